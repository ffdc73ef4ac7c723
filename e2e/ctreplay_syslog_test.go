//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/winstontest"
)

// siemSink is a SIEM's TCP syslog input: it reads the rfc5424 exporter's
// octet-counted messages and keeps them.
type siemSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func newSIEMSink(t testing.TB) *siemSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &siemSink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go s.read(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *siemSink) read(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<20)
	for {
		lenText, err := r.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenText))
		if err != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, string(msg))
		s.mu.Unlock()
	}
}

// seqs returns the seq number of every message received.
func (s *siemSink) seqs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return firstSeqs(s.msgs)
}

func firstSeqs(texts []string) []int {
	out := make([]int, 0, len(texts))
	for _, m := range texts {
		if seq := winstontest.Seq(m); len(seq) > 0 {
			out = append(out, seq[0])
		}
	}
	return out
}

// ctreplayCollector is the built otelcol-audit running
// examples/ctreplay-syslog.yaml with every listener on.
type ctreplayCollector struct {
	t                   testing.TB
	bin                 string
	dir, data           string
	udp, tcp, tls, unix string
	caFile, metrics     string
	args, env           []string
	proc                *proc.Process
	runs                int
}

func newCTReplayCollector(t testing.TB, siem string) *ctreplayCollector {
	t.Helper()
	c := &ctreplayCollector{t: t, bin: binaryPath(t, envCollectorBin), dir: t.TempDir()}
	c.data = filepath.Join(c.dir, "data")
	files := syslogtest.NewTLSFiles(t)
	c.caFile = files.CAFile
	udpPort, err := proc.FreePort()
	require.NoError(t, err)
	c.udp = net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort))
	c.tcp, c.tls, c.metrics = freeAddr(t), freeAddr(t), freeAddr(t)
	c.unix = filepath.Join(c.dir, "ctreplay.sock")
	host, port, _ := net.SplitHostPort(c.metrics)
	overlay := fmt.Sprintf(`service:
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: %s
                port: %s
`, host, port)
	op := filepath.Join(c.dir, "overlay.yaml")
	require.NoError(t, os.WriteFile(op, []byte(overlay), 0o600))
	c.args = []string{"--config", repoFile(t, "examples/ctreplay-syslog.yaml"), "--config", op}
	c.env = []string{
		"CTREPLAY_SYSLOG_UDP=" + c.udp, "CTREPLAY_SYSLOG_TCP=" + c.tcp, "CTREPLAY_SYSLOG_TLS=" + c.tls,
		"CTREPLAY_TLS_CERT_FILE=" + files.ServerCertFile, "CTREPLAY_TLS_KEY_FILE=" + files.ServerKey,
		"CTREPLAY_SYSLOG_UNIX=" + c.unix, "OTELCOL_AUDIT_DATA=" + c.data, "SIEM_ENDPOINT=" + siem,
		"GOMEMLIMIT=" + goMemLimit,
	}
	t.Cleanup(func() {
		if c.proc != nil {
			_ = c.proc.Stop(30 * time.Second)
		}
		if t.Failed() {
			t.Logf("collector logs:\n%s", tail(c.log(), 80))
		}
	})
	return c
}

func (c *ctreplayCollector) logPath(run int) string {
	return filepath.Join(c.dir, "collector-"+strconv.Itoa(run)+".log")
}

func (c *ctreplayCollector) log() string {
	var b strings.Builder
	for run := 1; run <= c.runs; run++ {
		data, _ := os.ReadFile(c.logPath(run))
		fmt.Fprintf(&b, "--- run %d ---\n%s", run, data)
	}
	return b.String()
}

func (c *ctreplayCollector) start() {
	c.t.Helper()
	c.runs++
	p, err := proc.Start(c.bin, c.args, c.env, c.logPath(c.runs))
	require.NoError(c.t, err)
	c.proc = p
	if err := p.WaitListening(context.Background(), c.tcp, 2*time.Minute); err != nil {
		c.t.Fatalf("collector: %v\n%s", err, tail(c.log(), 50))
	}
	// The listeners open in one Start: TCP up means all are.
	require.Eventually(c.t, func() bool { _, err := os.Stat(c.unix); return err == nil }, time.Minute, 10*time.Millisecond)
}

// stop is SIGTERM: the receiver reads every connection to its end.
func (c *ctreplayCollector) stop() {
	c.t.Helper()
	err := c.proc.Stop(time.Minute)
	if err == nil {
		err = c.proc.ExitErr()
	}
	c.proc = nil
	require.NoError(c.t, err, "collector shutdown")
}

func (c *ctreplayCollector) kill() {
	c.proc.Kill()
	c.proc = nil
}

// archiveSeqs returns the seq number of every archived event.
func (c *ctreplayCollector) archiveSeqs() []int {
	data, _ := os.ReadFile(filepath.Join(c.data, "ctreplay-audit.jsonl"))
	return firstSeqs(strings.Split(string(data), "\n"))
}

// metric sums a counter's samples whose labels contain every label given
// (the Prometheus exposition of the collector's own telemetry).
func (c *ctreplayCollector) metric(name string, labels ...string) float64 {
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if f := strings.Fields(line); ok && len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// winstonFor configures winston-syslog as CTReplay does for protocol.
func (c *ctreplayCollector) winstonFor(protocol string) winstontest.Config {
	s := &winstontest.Syslog{Protocol: protocol, Facility: "local6", Host: "127.0.0.1"}
	switch protocol {
	case "udp4":
		s.Port = portOf(c.udp)
	case "tcp4":
		s.Port = portOf(c.tcp)
	case "tls4":
		s.Port = portOf(c.tls)
	case "unix", "unix-connect":
		s.Path = c.unix
	}
	return winstontest.Config{Syslog: s}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// waitSeqs waits until the SIEM and the archive hold seqs from..from+n-1
// (or time runs out) and returns both tallies, over just those seqs.
func waitSeqs(t testing.TB, siem *siemSink, c *ctreplayCollector, from, n int, timeout time.Duration) (atSIEM, inArchive winstontest.Count) {
	t.Helper()
	window := func(seqs []int) []int {
		var out []int
		for _, s := range seqs {
			if s >= from && s < from+n {
				out = append(out, s-from)
			}
		}
		return out
	}
	deadline := time.Now().Add(timeout)
	for {
		atSIEM = winstontest.Tally(window(siem.seqs()), n)
		inArchive = winstontest.Tally(window(c.archiveSeqs()), n)
		if (atSIEM.Lost == 0 && inArchive.Lost == 0) || time.Now().After(deadline) {
			// A moment more for late duplicates.
			time.Sleep(300 * time.Millisecond)
			return winstontest.Tally(window(siem.seqs()), n), winstontest.Tally(window(c.archiveSeqs()), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostileParams are values CTReplay's users can type into a search.
var hostileParams = []string{
	`<13>Dec  6 12:00:00 evil-host app[1]: {"ts":"01/01/2030 - 00:00:00.000","action":"forged","userID":"root"}`,
	`quote " bracket ] [ brace } { backslash \ \" end`,
	"line one\nline two\r\n<14>1 2030-01-01T00:00:00Z h a - - - forged",
	"città ☃ 日本語 ÿ \u2028 \U0001F600",
	strings.Repeat("x", 64<<10),
}

// Every protocol CTReplay documents, through the real winston-syslog, into
// the example config: a burst, hostile values (one of 64 KiB) and a slow
// trickle; every event reaches the SIEM and the archive exactly once, each
// while the connection stays open (nothing waits for a next message).
func TestCTReplayWinstonSyslogProtocols(t *testing.T) {
	winstontest.Dir(t)
	siem := newSIEMSink(t)
	c := newCTReplayCollector(t, siem.ln.Addr().String())
	c.start()
	for i, protocol := range []string{"udp4", "tcp4", "tls4", "unix", "unix-connect"} {
		t.Run(protocol, func(t *testing.T) {
			base := (i + 1) * 100_000
			w := winstontest.Start(t, c.winstonFor(protocol), "NODE_EXTRA_CA_CERTS="+c.caFile)
			// Over unix datagram sockets the kernel holds only so many
			// datagrams in flight (the sender's send buffer, about 200 of
			// these; net.unix.max_dgram_qlen on the receiving socket), and
			// winston-syslog drops (unix) or stalls on (unix-connect) what
			// the kernel refuses: that sender is paced, 1 ms apart.
			var gap time.Duration
			switch protocol {
			case "unix":
				gap = time.Millisecond
			case "unix-connect":
				gap = 2 * time.Millisecond
			}
			// winston-syslog's unix-connect stops sending for good once the
			// kernel refused one datagram (it waits for a "writable" event
			// that does not come): on a loaded machine even the paced
			// sender can hit that. It says "congestion"; then only what it
			// sent is checked.
			senderStalled := func() bool {
				return protocol == "unix-connect" && strings.Contains(w.Stderr(), "congestion")
			}
			const burst = 1000
			w.Burst(base, burst, "burst", gap)
			seq := base + burst
			for _, p := range hostileParams {
				w.Burst(seq, 3, p, gap)
				seq += 3
			}
			// The trickle's events each arrive while the logger stays
			// connected and quiet.
			for k := 0; k < 5 && !senderStalled(); k++ {
				w.Burst(seq, 1, "trickle", 0)
				if senderStalled() {
					seq++
					break
				}
				atSIEM, inArchive := waitSeqs(t, siem, c, seq, 1, 20*time.Second)
				require.Zero(t, inArchive.Lost, "trickle event %d in the archive with the connection open: %s", k, inArchive)
				require.Zero(t, atSIEM.Lost, "trickle event %d at the SIEM: %s", k, atSIEM)
				seq++
			}
			n := seq - base
			atSIEM, inArchive := waitSeqs(t, siem, c, base, n, time.Minute)
			t.Logf("%s: %d events; SIEM: %s; archive: %s; winston: %q", protocol, n, atSIEM, inArchive, strings.TrimSpace(w.Stderr()))
			if senderStalled() {
				t.Logf("%s: winston-syslog stalled after congestion: %d events it never sent", protocol, inArchive.Lost)
				atSIEM.Lost, inArchive.Lost = 0, 0
			}
			assert.Zero(t, atSIEM.Lost+atSIEM.Duplicated, "SIEM: %s", atSIEM)
			assert.Zero(t, inArchive.Lost+inArchive.Duplicated, "archive: %s", inArchive)
			w.Close()
		})
	}
	// The hostile values came through exactly, and no record was flagged:
	// read the archive back with the archive package.
	a, err := archive.Open(filepath.Join(c.data, "ctreplay-audit.jsonl"))
	require.NoError(t, err)
	params := map[string]int{}
	for e, err := range a.Entries() {
		require.NoError(t, err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.IsMarker() {
			continue
		}
		assert.NotContains(t, ev.Attributes, "audit.parse_error", ev.Message)
		assert.NotEqual(t, "forged", ev.Name)
		p, _ := ev.Attributes["params"].(string)
		if _, rest, ok := strings.Cut(p, " "); ok {
			params[rest]++
		}
	}
	for _, p := range hostileParams {
		assert.GreaterOrEqual(t, params[p], 12, "%.60q archived exactly, 3 times per protocol", p)
	}
	requireVerified(t, filepath.Join(c.data, "ctreplay-audit.jsonl"))
	assert.Zero(t, c.metric("otelcol_receiver_auditsyslog_dropped_messages"), "no message dropped")
}

// CTReplay's default protocol, a burst of 5000 back to back on loopback,
// the default config: none lost.
func TestCTReplayWinstonUDPBurst(t *testing.T) {
	winstontest.Dir(t)
	siem := newSIEMSink(t)
	c := newCTReplayCollector(t, siem.ln.Addr().String())
	c.start()
	w := winstontest.Start(t, c.winstonFor("udp4"))
	const n = 5000
	start := time.Now()
	w.Burst(0, n, "", 0)
	sent := time.Since(start)
	atSIEM, inArchive := waitSeqs(t, siem, c, 0, n, time.Minute)
	t.Logf("udp4 burst of %d in %s (%.0f/s): SIEM %s; archive %s; kernel drops counted %v", n, sent.Round(time.Millisecond),
		float64(n)/sent.Seconds(), atSIEM, inArchive, c.metric("otelcol_receiver_auditsyslog_dropped_messages"))
	assert.Zero(t, inArchive.Lost+inArchive.Duplicated, "archive: %s", inArchive)
	assert.Zero(t, atSIEM.Lost+atSIEM.Duplicated, "SIEM: %s", atSIEM)
	w.Close()
}

// The collector restarted (SIGTERM) twice while winston-syslog trickles
// over tcp4: nothing lost, nothing duplicated. Then killed (SIGKILL) once:
// what is lost is reported (what the kernel had accepted and the collector
// had not yet read or queued).
func TestCTReplayWinstonRestartsTCP(t *testing.T) {
	winstontest.Dir(t)
	siem := newSIEMSink(t)
	c := newCTReplayCollector(t, siem.ln.Addr().String())
	c.start()
	w := winstontest.Start(t, c.winstonFor("tcp4"))
	// About 4 s of events, 2 ms apart, across two restarts.
	const n = 2000
	done := w.Go(0, n, "restart", 2*time.Millisecond)
	for range 2 {
		time.Sleep(1200 * time.Millisecond)
		c.stop()
		c.start()
	}
	require.NoError(t, <-done)
	// winston-syslog's reconnect pause doubles after each failed attempt;
	// its queue goes out on reconnect.
	atSIEM, inArchive := waitSeqs(t, siem, c, 0, n, 45*time.Second)
	t.Logf("tcp4 across 2 SIGTERM restarts: SIEM %s; archive %s", atSIEM, inArchive)
	assert.Zero(t, inArchive.Lost+inArchive.Duplicated, "archive: %s", inArchive)
	assert.Zero(t, atSIEM.Lost+atSIEM.Duplicated, "SIEM: %s", atSIEM)

	done = w.Go(10_000, 1000, "kill", 2*time.Millisecond)
	time.Sleep(time.Second)
	c.kill()
	c.start()
	require.NoError(t, <-done)
	atSIEM, inArchive = waitSeqs(t, siem, c, 10_000, 1000, 30*time.Second)
	// Reported, not asserted: a kill loses the events in flight between
	// winston and the persistent sending queues (in the kernel's socket
	// buffers, or read and not yet queued), and the queues deliver again a
	// batch an exporter had written but not yet marked done (at least once).
	t.Logf("tcp4 across 1 SIGKILL: SIEM %s; archive %s", atSIEM, inArchive)
	w.Close()
}

// What winston-syslog itself does when the collector restarts (SIGTERM)
// over tls4, unix-connect and unix, reported: it cannot reconnect over
// tls4 (it reconnects its TLS socket as plain TCP, which the receiver
// refuses, and warns about) nor over unix-connect, and its unix protocol
// keeps what failed while the socket was gone in a queue it never sends.
// The receiver delivers everything it was sent before the restart, once.
func TestCTReplayWinstonRestartsSenderLimits(t *testing.T) {
	winstontest.Dir(t)
	for _, protocol := range []string{"tls4", "unix-connect", "unix"} {
		t.Run(protocol, func(t *testing.T) {
			siem := newSIEMSink(t)
			c := newCTReplayCollector(t, siem.ln.Addr().String())
			c.start()
			w := winstontest.Start(t, c.winstonFor(protocol), "NODE_EXTRA_CA_CERTS="+c.caFile)
			w.Burst(0, 200, "before", time.Millisecond)
			atSIEM, inArchive := waitSeqs(t, siem, c, 0, 200, 30*time.Second)
			assert.Zero(t, inArchive.Lost+inArchive.Duplicated, "before the restart: %s", inArchive)
			assert.Zero(t, atSIEM.Lost+atSIEM.Duplicated, "before the restart: %s", atSIEM)
			c.stop()
			c.start()
			w.Burst(1000, 300, "after", 10*time.Millisecond)
			atSIEM, inArchive = waitSeqs(t, siem, c, 1000, 300, 5*time.Second)
			t.Logf("%s after a SIGTERM restart: SIEM %s; archive %s; winston: %.200q", protocol, atSIEM, inArchive, w.Stderr())
			assert.Zero(t, inArchive.Duplicated)
			if protocol == "tls4" {
				assert.Contains(t, c.log(), "A sender wrote plain text to the TLS listener")
			}
		})
	}
}
