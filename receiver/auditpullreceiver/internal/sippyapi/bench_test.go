package sippyapi

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"
)

// BenchmarkGetAuditLogs is one full page (100 records) from the
// simulator over loopback with digest authentication: the API's share of
// a backfill.
//
//	go test -run '^$' -bench . ./receiver/auditpullreceiver/internal/sippyapi/
func BenchmarkGetAuditLogs(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim := sippyapitest.Start(b, sippyapitest.Options{History: 1000, HistoryStart: t0})
	c := New(sim.URL, &http.Client{Transport: &http.Transport{}}, "admin", "api-secret")
	defer c.http.CloseIdleConnections()
	q := Query{Start: t0, End: t0.Add(time.Hour), Limit: MaxLimit}
	b.ResetTimer()
	for i := range b.N {
		q.Offset = (i % 9) * MaxLimit
		recs, err := c.GetAuditLogs(context.Background(), q)
		if err != nil || len(recs) != MaxLimit {
			b.Fatal(err, len(recs))
		}
	}
	b.ReportMetric(float64(b.N*MaxLimit)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodePage is the client's decoding of a 100-record answer.
func BenchmarkDecodePage(b *testing.B) {
	data, err := os.ReadFile("testdata/page100.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for range b.N {
		recs, err := decode(data)
		if err != nil || len(recs) != 100 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}
