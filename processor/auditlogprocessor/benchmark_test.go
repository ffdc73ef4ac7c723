package auditlogprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
)

// mixedBenchBatch returns a batch of n records of each vendor, as they
// arrive: Glassix and Sippy from the auditwebhook receiver (Glassix
// nested), CTReplay as raw lines from the file_log receiver. seq makes every
// event unique, so none is dropped as a duplicate.
func mixedBenchBatch(b *testing.B, seq, n int) plog.Logs {
	ld := plog.NewLogs()
	ts := pcommon.NewTimestampFromTime(time.Date(2024, 1, 15, 11, 19, 7, 0, time.UTC))

	g := ld.ResourceLogs().AppendEmpty()
	g.Resource().Attributes().PutStr(auditrecord.AttrSource, "glassix")
	g.Resource().Attributes().PutStr(auditrecord.AttrServiceName, "glassix")
	glrs := g.ScopeLogs().AppendEmpty().LogRecords()

	s := ld.ResourceLogs().AppendEmpty()
	s.Resource().Attributes().PutStr(auditrecord.AttrSource, "sippy")
	s.Resource().Attributes().PutStr(auditrecord.AttrServiceName, "sippy")
	slrs := s.ScopeLogs().AppendEmpty().LogRecords()

	c := ld.ResourceLogs().AppendEmpty()
	clrs := c.ScopeLogs().AppendEmpty().LogRecords()

	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08d-%04d-4a2a-a283-717011f35c35", seq, i)
		r := glrs.AppendEmpty()
		if err := ctreplay.DecodeObject([]byte(`{"id":"`+id+`","dateTime":"2024-01-15T11:19:07.7935597Z","departmentId":"95b4ae47-a872-4dd5-920d-7b01d64288ad",`+
			`"initiatorUser":{"id":"f4d56da7-f39f-4741-8c84-4b5b34e40ad3","gender":"Undefined","UserName":"agent@example.com","culture":"en-US","isAnonymous":false,"uniqueArgument":"","type":"AGENT"},`+
			`"targetUser":{"id":"2563e94e-f68e-4cf8-b13b-17cfc95c437d","gender":"Undefined","UserName":"user@example.com","culture":"en-US","isAnonymous":true,"uniqueArgument":"","type":"AGENT"},`+
			`"ipAddress":"212.199.97.210","message":"agent removed role SystemUser from user","type":"RoleRemoved","logType":"Security"}`), r.Attributes()); err != nil {
			b.Fatal(err)
		}
		r.SetEventName("RoleRemoved")
		r.Body().SetStr("agent removed role SystemUser from user")
		r.SetTimestamp(ts)

		r = slrs.AppendEmpty()
		a := r.Attributes()
		a.PutStr("resource", fmt.Sprintf("accounts:i_account=%d:balance=10", seq*n+i))
		a.PutStr("action", "U")
		a.PutStr("action_by", "u:1:3726:main_admin")
		a.PutStr("date", "2024-01-15T11:19:07.000Z")
		a.PutStr("user_ip", "192.0.2.7")
		r.SetEventName("U")
		r.Body().SetStr("U " + a.AsRaw()["resource"].(string))
		r.SetTimestamp(ts)

		r = clrs.AppendEmpty()
		r.Body().SetStr(fmt.Sprintf(`{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"DELETE Recording","params":"id=%d","level":"info"}`, seq*n+i))
		r.Attributes().PutStr("log.file.name", "ctreplay.log")
	}
	return ld
}

// BenchmarkMixedVendors measures the processor on batches of 300 records
// (100 per vendor), dedup on (in memory), every event new.
func BenchmarkMixedVendors(b *testing.B) {
	const perVendor = 100
	const batch = 3 * perVendor
	cfg := defaultConfig()
	cfg.Source = "ctreplay" // for the text records; the others carry audit.source
	delivered := 0
	sink, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		delivered += ld.LogRecordCount()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Shutdown(context.Background()) }()

	var before, after runtime.MemStats
	var mallocs, bytes uint64
	b.ReportAllocs()
	seq := 0
	for b.Loop() {
		b.StopTimer()
		ld := mixedBenchBatch(b, seq, perVendor)
		seq++
		runtime.ReadMemStats(&before)
		b.StartTimer()
		if err := p.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
		bytes += after.TotalAlloc - before.TotalAlloc
		b.StartTimer()
	}
	records := float64(seq * batch)
	if delivered != int(records) {
		b.Fatalf("%d records out of %v: none should be dropped", delivered, records)
	}
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(mallocs)/records, "allocs/record")
	b.ReportMetric(float64(bytes)/records, "B/record")
}
