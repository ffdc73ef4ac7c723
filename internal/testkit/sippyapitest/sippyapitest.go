// Package sippyapitest runs sippysim.py, a Sippy Softswitch XML-RPC API
// simulator built on Python's xmlrpc.server behind HTTP Digest
// authentication, for tests of the auditpull receiver and the end-to-end
// suite.
package sippyapitest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Options of a simulator; zero values take sippysim.py's defaults.
type Options struct {
	Username, Password string // default admin / api-secret
	Algorithm          string // MD5 (default) or SHA-256
	Trusted            bool
	// History records exist at start, HistoryStep apart from HistoryStart.
	History      int
	HistoryStart time.Time
	HistoryStep  time.Duration
	// GrowPerSecond records are added every second, dated GrowDelay ago.
	GrowPerSecond int
	GrowDelay     time.Duration
	SlowSeconds   float64
	NonceLifetime time.Duration
	Port          int
	// TLSCert and TLSKey (PEM files) make it serve HTTPS.
	TLSCert, TLSKey string
}

// Sim is a running simulator.
type Sim struct {
	// URL is the XML-RPC endpoint, http://127.0.0.1:port/xmlapi/xmlapi.
	URL  string
	base string
	cmd  *exec.Cmd
	tls  bool
}

// Script is the simulator's path.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "sippysim.py")
}

// Start runs a simulator until the test ends.
func Start(t testing.TB, o Options) *Sim {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Sippy simulator: %v", err)
	}
	args := []string{Script(), "--port", fmt.Sprint(o.Port)}
	add := func(flag, v string) {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	add("--username", o.Username)
	add("--password", o.Password)
	add("--algorithm", o.Algorithm)
	if o.Trusted {
		args = append(args, "--trusted")
	}
	if o.History > 0 {
		step := o.HistoryStep
		if step == 0 {
			step = time.Second
		}
		args = append(args, "--history", fmt.Sprint(o.History), "--history-start", o.HistoryStart.UTC().Format(time.RFC3339),
			"--history-step-ms", fmt.Sprint(step.Milliseconds()))
	}
	if o.GrowPerSecond > 0 {
		args = append(args, "--grow-per-s", fmt.Sprint(o.GrowPerSecond), "--grow-delay-s", fmt.Sprint(o.GrowDelay.Seconds()))
	}
	if o.SlowSeconds > 0 {
		args = append(args, "--slow-seconds", fmt.Sprint(o.SlowSeconds))
	}
	if o.TLSCert != "" {
		args = append(args, "--tls-cert", o.TLSCert, "--tls-key", o.TLSKey)
	}
	if o.NonceLifetime > 0 {
		args = append(args, "--nonce-lifetime", fmt.Sprint(o.NonceLifetime.Seconds()))
	}
	cmd := exec.Command(py, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Sippy simulator: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTENING ") {
		t.Fatalf("the Sippy simulator did not start: %q %v", line, err)
	}
	port := strings.TrimSpace(strings.TrimPrefix(line, "LISTENING "))
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
	}
	base := scheme + "://127.0.0.1:" + port
	return &Sim{URL: base + "/xmlapi/xmlapi", base: base, cmd: cmd, tls: o.TLSCert != ""}
}

// Stats are the simulator's counters.
type Stats struct {
	Calls         int `json:"calls"`
	Answered      int `json:"answered"`
	RecordsServed int `json:"records_served"`
	AuthFailures  int `json:"auth_failures"`
	FaultsSent    int `json:"faults_sent"`
	StaleNonces   int `json:"stale_nonces"`
	Records       int `json:"records"`
}

func (s *Sim) post(path string, in, out any) error {
	b, _ := json.Marshal(in)
	c := http.DefaultClient
	if s.tls {
		// The control paths are the test's own: no need to check the
		// simulator's certificate there.
		c = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} //nolint:gosec
	}
	resp, err := c.Post(s.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Add appends n records dated from when (zero: now), step apart, and
// returns the last record's i_audit_log.
func (s *Sim) Add(t testing.TB, n int, when time.Time, step time.Duration) int {
	t.Helper()
	req := map[string]any{"count": n, "step_ms": step.Milliseconds()}
	if !when.IsZero() {
		req["date"] = when.UTC().Format(time.RFC3339Nano)
	}
	var out struct {
		LastID int `json:"last_id"`
	}
	if err := s.post("/sim/add", req, &out); err != nil {
		t.Fatalf("adding records to the simulator: %v", err)
	}
	return out.LastID
}

// AddHostile appends, dated when, an element of records that is not a
// struct and a record whose date is "yesterday"; it returns the latter's
// i_audit_log.
func (s *Sim) AddHostile(t testing.TB, when time.Time) int {
	t.Helper()
	var out struct {
		LastID int `json:"last_id"`
	}
	if err := s.post("/sim/add_hostile", map[string]any{"date": when.UTC().Format(time.RFC3339Nano)}, &out); err != nil {
		t.Fatalf("adding hostile records to the simulator: %v", err)
	}
	return out.LastID
}

// Faults sets fault counters and returns them all as they now are:
// xmlrpc_fault, http_500, malformed, slow (that many next calls), insert_during_paging (records added at the end
// of the window by the next call with an offset), down (bool), grow_paused
// (bool: the log stops growing).
func (s *Sim) Faults(t testing.TB, f map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := s.post("/sim/faults", f, &out); err != nil {
		t.Fatalf("setting simulator faults: %v", err)
	}
	return out
}

// Stats reads the counters.
func (s *Sim) Stats(t testing.TB) Stats {
	t.Helper()
	var st Stats
	if err := s.post("/sim/stats", map[string]any{}, &st); err != nil {
		t.Fatalf("reading simulator stats: %v", err)
	}
	return st
}
