// Package fakecollector is a stand-in for a collector in the harness's own
// tests: a test binary runs it as a real child process (see Enabled), so
// the harness's process handling, sink and archive reader are exercised for
// real without building a distribution.
//
// It takes Glassix webhooks on BENCH_HTTP_ENDPOINT at /glassix and forwards
// each event as one octet-counted RFC 5424 message to BENCH_SYSLOG_ENDPOINT
// and one line to BENCH_ARCHIVE, the variables the harness sets for
// otelcol-audit. Faults, for tests that need them:
//
//	FAKE_DROP_EVERY=n   lose every n-th event on the way to syslog (still acknowledged)
//	FAKE_EXIT_AFTER=n   exit after n requests
package fakecollector // import "github.com/otelcol-audit/otelcol-audit/bench/internal/fakecollector"

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// EnvEnable, set to 1 in a test binary's environment, makes Enabled true:
// the binary is then the fake collector, not the tests.
const EnvEnable = "BENCH_FAKE_COLLECTOR"

// Enabled reports whether this process was started as the fake collector.
func Enabled() bool { return os.Getenv(EnvEnable) == "1" }

// Main runs the fake collector until it is killed or fails.
func Main() error {
	dropEvery, _ := strconv.Atoi(os.Getenv("FAKE_DROP_EVERY"))
	exitAfter, _ := strconv.Atoi(os.Getenv("FAKE_EXIT_AFTER"))
	siem, err := net.Dial("tcp", os.Getenv("BENCH_SYSLOG_ENDPOINT"))
	if err != nil {
		return err
	}
	archive, err := os.OpenFile(os.Getenv("BENCH_ARCHIVE"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var events, requests int
	mux := http.NewServeMux()
	mux.HandleFunc("POST /glassix", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Changes []struct {
				Log struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				} `json:"log"`
			} `json:"changes"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range body.Changes {
			events++
			if dropEvery == 0 || events%dropEvery != 0 {
				msg := fmt.Sprintf(`<134>1 2024-01-11T09:18:32.745235Z glassix.com glassix - %s [data id="%s"] %s`, c.Log.Type, c.Log.ID, c.Log.Type)
				if _, err := fmt.Fprintf(siem, "%d %s", len(msg), msg); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			if _, err := fmt.Fprintf(archive, "{\"audit.event_id\":%q}\n", c.Log.ID); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		requests++
		if exitAfter > 0 && requests >= exitAfter {
			os.Exit(4)
		}
		w.WriteHeader(http.StatusOK)
	})
	return http.ListenAndServe(os.Getenv("BENCH_HTTP_ENDPOINT"), mux)
}
