package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/otelcol-audit/otelcol-audit/bench/internal/scenario"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/bench/internal/fakecollector"
)

func TestMain(m *testing.M) {
	// The bare target runs the harness binary as `bare-server`; under test
	// that binary is this one. It also stands in for otelcol-audit.
	if len(os.Args) > 1 && os.Args[1] == "bare-server" {
		main()
		return
	}
	if fakecollector.Enabled() {
		if err := fakecollector.Main(); err != nil {
			fmt.Fprintln(os.Stderr, "fake collector:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"unknown target", []string{"-targets", "bare,vector"}, `unknown target "vector"`},
		{"bad events", []string{"-events", "1,zero"}, `-events: "zero"`},
		{"no clients", []string{"-clients", "0"}, "-clients"},
		{"no window", []string{"-duration", "0s"}, "-duration"},
		{"signing without a secret", []string{"-sign", "-secret", ""}, "-secret"},
		{"every problem at once", []string{"-clients", "0", "-duration", "0s"}, "-duration"},
		{"missing overlay", []string{"-audit-config", "/nonexistent.yaml"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseFlags(tt.args, &stderr)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, []string{"bare", "contrib", "contrib-durable", "contrib-batch", "otelcol-audit-memory", "otelcol-audit"}, o.targets)
				assert.Equal(t, []int{1, 100}, o.events)
				assert.Equal(t, 8, o.clients)
				assert.Equal(t, filepath.Join("_build/bench", "results.json"), o.jsonPath)
				return
			}
			require.Error(t, err)
			assert.Contains(t, stderr.String(), tt.wantErr)
		})
	}
}

func TestPlanNamesMissingBinaries(t *testing.T) {
	o, err := parseFlags([]string{"-collector", "/nonexistent/otelcol-audit", "-contrib", "/nonexistent/contrib"}, &bytes.Buffer{})
	require.NoError(t, err)
	specs, err := plan(o)
	assert.ErrorContains(t, err, "make build")
	assert.ErrorContains(t, err, "bench/contrib/build.sh")
	var got []string
	for _, s := range specs {
		got = append(got, fmt.Sprintf("%s/%d", s.Target.Name, s.EventsPerRequest))
	}
	assert.Equal(t, []string{"bare/1", "contrib/1", "contrib-durable/1", "contrib-batch/1",
		"otelcol-audit-memory/1", "otelcol-audit-memory/100", "otelcol-audit/1", "otelcol-audit/100"}, got,
		"bare and the contrib peers at the first events-per-request value, otelcol-audit in memory and durable at each")
	assert.Equal(t, 1, strings.Count(err.Error(), "contrib binary"), "one missing binary, one error")
}

func TestQueueFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, scenario.QueueWAL, o.queue, "the shipped configuration by default")
	o, err = parseFlags([]string{"-in-memory"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, scenario.QueueMemory, o.queue)
	var stderr bytes.Buffer
	_, err = parseFlags([]string{"-queue", "tmpfs"}, &stderr)
	require.Error(t, err)
	assert.Contains(t, stderr.String(), `-queue: unknown queue "tmpfs"`)
}

func TestBareHandler(t *testing.T) {
	srv := httptest.NewServer(bareHandler("/glassix"))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/glassix", "application/json", strings.NewReader(`{"changes":[]}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(srv.URL + "/glassix")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// A whole run against the bare server: the table, the JSON and the exit
// code, with the harness's real child process.
func TestRunBareOnly(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{
		"-targets", "bare", "-warmup", "100ms", "-duration", "300ms", "-workdir", dir,
	}, &bytes.Buffer{})
	require.NoError(t, err)
	var out bytes.Buffer
	code, err := run(context.Background(), o, &out)
	require.NoError(t, err, out.String())
	assert.Equal(t, 0, code)
	assert.Contains(t, out.String(), "bare")
	assert.Contains(t, out.String(), "N/A", "no otelcol-audit run, so no verdicts")

	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var report Report
	require.NoError(t, json.Unmarshal(data, &report))
	require.Len(t, report.Results, 1)
	assert.True(t, report.Complete)
	r := report.Results[0]
	assert.Equal(t, "bare", r.Target)
	assert.Positive(t, r.AcceptedPerSec)
	assert.Equal(t, r.AcceptedPerSec, r.DeliveredPerSec, "the ceiling delivers what it accepts")
	assert.Positive(t, r.PeakRSSBytes)
	assert.WithinDuration(t, time.Now(), report.Started, time.Hour)
}

// The exit status follows delivery: 0 when every acknowledged event was
// delivered, 1 when one was lost, with the table and JSON saying which.
func TestRunExitStatusFollowsDelivery(t *testing.T) {
	tests := []struct {
		name      string
		dropEvery string
		wantCode  int
	}{
		{"everything delivered", "0", 0},
		{"events lost on the way to syslog", "4", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(fakecollector.EnvEnable, "1") // inherited by the child only
			t.Setenv("FAKE_DROP_EVERY", tt.dropEvery)
			dir := t.TempDir()
			o, err := parseFlags([]string{
				"-targets", "otelcol-audit", "-events", "2", "-collector", os.Args[0],
				"-warmup", "100ms", "-duration", "300ms", "-drain", "500ms", "-workdir", dir,
			}, &bytes.Buffer{})
			require.NoError(t, err)
			var out bytes.Buffer
			code, err := run(context.Background(), o, &out)
			assert.Equal(t, tt.wantCode, code, out.String())

			data, readErr := os.ReadFile(filepath.Join(dir, "results.json"))
			require.NoError(t, readErr)
			var report Report
			require.NoError(t, json.Unmarshal(data, &report))
			require.Len(t, report.Results, 1)
			if tt.wantCode == 0 {
				require.NoError(t, err)
				assert.True(t, report.Complete)
				assert.Contains(t, out.String(), "delivery complete: otelcol-audit, 2/req")
				return
			}
			assert.ErrorContains(t, err, "delivery incomplete")
			assert.False(t, report.Complete)
			assert.Positive(t, report.Results[0].SyslogMissing)
			assert.Contains(t, out.String(), "FAIL")
		})
	}
}
