// Package syslogtest runs real syslog servers — rsyslog and syslog-ng — for
// tests, and reports what they parsed.
//
// Each server runs as the current user, in the foreground, with a
// configuration written to a temporary directory, listening on 127.0.0.1 on
// a free port or on a socket in that directory. It parses RFC 5424 (rsyslog
// with its structured-data parser mmpstrucdata, syslog-ng with its
// syslog-protocol parser) and writes every parsed field of every message as
// one JSON object per line, which Messages reads back into Message values.
// Both servers are configured to keep control characters and trailing
// newlines, so tests can check that values round-trip exactly.
//
// rsyslog is taken from PATH (rsyslogd, or /usr/sbin/rsyslogd); syslog-ng
// from .tools/syslog-ng in the repository, where
// .ci/install-syslog-servers.sh unpacks it, or from PATH. When a server is
// missing the test is skipped, unless OTELCOL_AUDIT_REQUIRE_SERVERS=1, when
// it fails (see Require).
//
// Coverage of the two servers differs where the servers do: rsyslog has no
// unix stream socket input, syslog-ng reads octet-counted frames only on
// tcp and tls, and only rsyslog speaks RELP (imrelp, Debian's
// rsyslog-relp).
package syslogtest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// EnvRequireServers, set to 1, turns a missing server into a test failure
// instead of a skip. CI sets it.
const EnvRequireServers = archivetest.RequireEnv

// Require skips the test with the reason, or fails it when
// EnvRequireServers is 1. It is archivetest.SkipOrFail, the one place in
// the repository that decides between the two.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	archivetest.SkipOrFail(t, format, args...)
}

// Transports, spelled as the rfc5424 exporter's settings spell them.
const (
	TCP      = "tcp"
	UDP      = "udp"
	TLS      = "tls"
	Unix     = "unix"
	Unixgram = "unixgram"
	// RELP is rsyslog's imrelp (rsyslog only); over TLS when Config.TLS
	// is set.
	RELP = "relp"
)

// Framings of stream transports.
const (
	OctetCounting  = "octet_counting"
	NonTransparent = "non_transparent"
)

// Config says what a server listens on.
type Config struct {
	// Transport is TCP, UDP, TLS, Unix, Unixgram or RELP.
	Transport string
	// Framing is OctetCounting or NonTransparent, for TCP, TLS and Unix.
	Framing string
	// TLS holds the certificates for TLS; nil generates a fresh set. For
	// RELP, setting it turns TLS on.
	TLS *TLSFiles
	// RequireClientCert makes a TLS server demand a client certificate
	// signed by TLS.CAFile.
	RequireClientCert bool
	// Direct makes rsyslog process each message in the thread that
	// received it (a ruleset queue of type Direct): the message is in the
	// output file before the input reads the next one, and, over RELP,
	// before imrelp answers 200. Without it, messages wait in rsyslog's
	// in-memory main queue, which a crash loses.
	Direct bool
}

// Message is one message as a server parsed it. Fields a message left
// empty (NILVALUE "-") are empty strings.
type Message struct {
	Priority  int
	Timestamp time.Time
	Hostname  string
	AppName   string
	ProcID    string
	MsgID     string
	// StructuredData maps SD-ID to PARAM-NAME to unescaped value.
	StructuredData map[string]map[string]string
	// ParamOrder lists each SD-ID's PARAM-NAMEs in the order the server
	// wrote them: the order on the wire for rsyslog. nil for syslog-ng,
	// whose JSON output nests dotted names and does not keep the order.
	ParamOrder map[string][]string
	Message    string
}

// Server is a running (or stopped) syslog server. Its methods report
// problems through the test that started it, so call them from that test's
// goroutine.
type Server struct {
	t        testing.TB
	name     string
	dir      string
	endpoint string
	cfg      Config
	output   string
	logFile  string
	argv     []string
	env      []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Endpoint is where to send: host:port, or a socket path.
func (s *Server) Endpoint() string { return s.endpoint }

// Pid is the running server's process id, 0 when it is not running.
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// OutputFile is the file the server writes its messages to, one JSON
// object per line (Messages parses it).
func (s *Server) OutputFile() string { return s.output }

// Start (re)starts a stopped server on the same endpoint and waits until it
// accepts messages.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatalf("%s: already running", s.name)
	}
	if s.cfg.Transport == Unix || s.cfg.Transport == Unixgram {
		_ = os.Remove(s.endpoint) // a stale socket file from the last run
	}
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		s.t.Fatalf("%s: start: %v", s.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for !s.ready() {
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("%s exited during start-up:\n%s", s.name, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("%s is not listening on %s %s after 30s:\n%s", s.name, s.cfg.Transport, s.endpoint, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 30 s) and waits for it
// to exit. Messages it had written stay readable.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Pause stops the server's process (SIGSTOP): it hangs with its sockets
// open, and the kernel keeps accepting connections and data for it until
// its buffers are full.
func (s *Server) Pause() {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("%s: not running", s.name)
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("%s: SIGSTOP: %v", s.name, err)
	}
}

// Kill kills the server at once (SIGKILL, also when paused), as a crash
// would: what it had not written is lost. It waits for the process to
// exit; Start starts it again.
func (s *Server) Kill() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Log returns what the server printed about itself.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// Messages returns every message the server has written so far, in order.
func (s *Server) Messages() []Message {
	s.t.Helper()
	data, err := os.ReadFile(s.output)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	// The server may be writing its last line while it is read: only
	// newline-terminated lines are complete, and the rest is read again
	// by the next call (every call rereads the file from its start).
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []Message
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m Message
		var err error
		if s.name == rsyslogName {
			m, err = parseRsyslogLine(line)
		} else {
			m, err = parseSyslogNGLine(line)
		}
		if err != nil {
			s.t.Fatalf("%s output line %q: %v", s.name, line, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitForMessages waits until the server has written at least n messages
// (60 s at most) and returns all it has written.
func (s *Server) WaitForMessages(n int) []Message {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := s.Messages()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s wrote %d messages, want %d; its log:\n%s", s.name, len(got), n, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newServer(t testing.TB, name string, cfg Config) *Server {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "syslogtest-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, name: name, dir: dir, cfg: cfg,
		output: filepath.Join(dir, "messages.jsonl"), logFile: filepath.Join(dir, "server.log")}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, s.Log())
		}
		_ = os.RemoveAll(dir)
	})
	switch cfg.Transport {
	case TCP, TLS, RELP:
		s.endpoint = freePort(t, "tcp")
	case UDP:
		s.endpoint = freePort(t, "udp")
	case Unix, Unixgram:
		s.endpoint = filepath.Join(dir, "syslog.sock")
	default:
		t.Fatalf("syslogtest: unknown transport %q", cfg.Transport)
	}
	if cfg.Transport == TLS && s.cfg.TLS == nil {
		s.cfg.TLS = NewTLSFiles(t)
	}
	return s
}

// freePort returns 127.0.0.1:port for a port that was free a moment ago.
func freePort(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ready reports whether the server accepts messages on its endpoint.
func (s *Server) ready() bool {
	switch s.cfg.Transport {
	case TCP, TLS, Unix, RELP:
		network := "tcp"
		if s.cfg.Transport == Unix {
			network = "unix"
		}
		c, err := net.DialTimeout(network, s.endpoint, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	case Unixgram:
		c, err := net.Dial("unixgram", s.endpoint)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	case UDP:
		return udpBound(s.endpoint)
	}
	return false
}

// udpBound reports whether some socket is bound to addr (127.0.0.1:port),
// from /proc/net/udp: UDP has no handshake to probe with.
func udpBound(addr string) bool {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return false
	}
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 && fields[1] == want {
			return true
		}
	}
	return false
}

// repoRoot finds the directory holding go.mod, from the working directory
// up.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func parseTime(s string) (time.Time, error) {
	if s == "" || s == "-" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func nilToEmpty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// jsonString decodes a JSON value that a server may write as a string or
// a number.
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}
