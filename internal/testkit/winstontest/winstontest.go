// Package winstontest runs CTReplay's own logging stack for tests: Node's
// winston with the winston-syslog transport and winston's File transport,
// from npm, configured with CTReplay's settings (seed 001: syslogHost,
// syslogPort, syslogProtocol, syslogFacility; fileLoggerPath), through the
// driver node/ctreplay.js.
//
// The npm packages are installed in node/node_modules by .ci/run
// (npm ci --prefix internal/testkit/winstontest/node, with npm_config_nodedir=/usr
// so that unix-dgram, winston-syslog's native module for unix sockets,
// builds without downloading Node's headers). When node or the packages
// are missing the test is skipped, or fails under
// OTELCOL_AUDIT_REQUIRE_SERVERS=1 (CI).
package winstontest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/winstontest"

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// Syslog is winston-syslog's configuration, as CTReplay sets it.
type Syslog struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Protocol string `json:"protocol"` // udp4, tcp4, tls4, unix, unix-connect
	Facility string `json:"facility"` // local6 in seed 001
	Path     string `json:"path,omitempty"`
	Type     string `json:"type,omitempty"` // "5424"; empty is BSD (RFC 3164)
}

// File is winston's File transport configuration.
type File struct {
	Filename      string `json:"filename"`
	MaxSize       int    `json:"maxsize,omitempty"`
	MaxFiles      int    `json:"maxFiles,omitempty"`
	Tailable      bool   `json:"tailable,omitempty"`
	ZippedArchive bool   `json:"zippedArchive,omitempty"`
}

// Config selects the transports.
type Config struct {
	Syslog *Syslog `json:"syslog,omitempty"`
	File   *File   `json:"file,omitempty"`
}

// Dir returns the node project directory, skipping or failing the test when
// node or the packages are missing.
func Dir(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "node")
	if _, err := exec.LookPath("node"); err != nil {
		archivetest.SkipOrFail(t, "node is not installed")
	}
	for _, m := range []string{"winston", "winston-syslog", "unix-dgram/build/Release/unix_dgram.node"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m)); err != nil {
			archivetest.SkipOrFail(t, "npm package %s is not installed: run npm_config_nodedir=/usr npm ci --prefix %s", m, dir)
		}
	}
	return dir
}

// Logger is a running CTReplay-like winston logger.
type Logger struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

// Start starts a logger with cfg; env is added to its environment
// (NODE_EXTRA_CA_CERTS to trust a test CA: winston-syslog takes no CA
// option).
func Start(t testing.TB, cfg Config, env ...string) *Logger {
	t.Helper()
	dir := Dir(t)
	conf, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &Logger{t: t, lines: make(chan string, 16), done: make(chan struct{})}
	l.cmd = exec.Command("node", filepath.Join(dir, "ctreplay.js"), string(conf))
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stderr = &lockedWriter{l: l}
	l.stdin, err = l.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(l.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
	}()
	go func() {
		_ = l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		_ = l.cmd.Process.Kill()
		<-l.done
	})
	return l
}

type lockedWriter struct{ l *Logger }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.stderr.Write(p)
}

// Stderr is what the logger wrote to stderr (transport errors).
func (l *Logger) Stderr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.String()
}

// Burst logs events from..from+n-1 (userID u<i>, params "seq-<i> <params>")
// with gap between them, and returns when winston has taken them all.
func (l *Logger) Burst(from, n int, params string, gap time.Duration) {
	l.t.Helper()
	l.send(map[string]any{"burst": n, "from": from, "params": params, "gapMs": gap.Milliseconds()}, time.Duration(n)*gap+2*time.Minute)
}

// Go logs like Burst without waiting; the channel gets nil, or the error,
// when winston has taken every event.
func (l *Logger) Go(from, n int, params string, gap time.Duration) <-chan error {
	ch := make(chan error, 1)
	b, _ := json.Marshal(map[string]any{"burst": n, "from": from, "params": params, "gapMs": gap.Milliseconds()})
	if _, err := fmt.Fprintf(l.stdin, "%s\n", b); err != nil {
		ch <- err
		return ch
	}
	go func() {
		select {
		case line, ok := <-l.lines:
			if !ok || line != "done" {
				ch <- fmt.Errorf("winston logger answered %q; stderr:\n%s", line, l.Stderr())
				return
			}
			ch <- nil
		case <-time.After(time.Duration(n)*gap + 2*time.Minute):
			ch <- fmt.Errorf("winston logger did not answer; stderr:\n%s", l.Stderr())
		}
	}()
	return ch
}

// Close closes the logger (winston-syslog waits up to about 4 s for its
// queue) and waits for the process to exit.
func (l *Logger) Close() {
	l.t.Helper()
	l.send(map[string]any{"close": true}, time.Minute)
	select {
	case <-l.done:
	case <-time.After(time.Minute):
		l.t.Fatalf("winston logger did not exit; stderr:\n%s", l.Stderr())
	}
}

func (l *Logger) send(cmd map[string]any, timeout time.Duration) {
	l.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(l.stdin, "%s\n", b); err != nil {
		l.t.Fatalf("winston logger: %v; stderr:\n%s", err, l.Stderr())
	}
	select {
	case line, ok := <-l.lines:
		if !ok || line != "done" {
			l.t.Fatalf("winston logger answered %q; stderr:\n%s", line, l.Stderr())
		}
	case <-time.After(timeout):
		l.t.Fatalf("winston logger did not answer in %s; stderr:\n%s", timeout, l.Stderr())
	}
}

// Seq returns the seq-<i> numbers found in text, in order.
func Seq(text string) []int {
	var out []int
	for {
		i := strings.Index(text, "seq-")
		if i < 0 {
			return out
		}
		text = text[i+4:]
		n, j := 0, 0
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			n = n*10 + int(text[j]-'0')
			j++
		}
		if j > 0 {
			out = append(out, n)
		}
	}
}

// Count tallies seq numbers: how many of 0..n-1 were seen, how many were
// missing and how many seen more than once.
type Count struct {
	Delivered, Lost, Duplicated int
	Missing                     []int
}

// Tally counts seqs against the expected 0..n-1.
func Tally(seqs []int, n int) Count {
	seen := make(map[int]int, len(seqs))
	for _, s := range seqs {
		seen[s]++
	}
	var c Count
	for i := range n {
		switch k := seen[i]; {
		case k == 0:
			c.Lost++
			if len(c.Missing) < 20 {
				c.Missing = append(c.Missing, i)
			}
		default:
			c.Delivered++
			c.Duplicated += k - 1
		}
	}
	return c
}

func (c Count) String() string {
	return fmt.Sprintf("delivered %d, lost %d, duplicated %d (first missing: %v)", c.Delivered, c.Lost, c.Duplicated, c.Missing)
}
