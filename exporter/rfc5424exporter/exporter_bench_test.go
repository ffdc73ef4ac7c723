package rfc5424exporter

import (
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport/relptest"
)

// glassixBatch is n Glassix events as the auditlog processor leaves them:
// flat attributes, as in seed 000's syslog example.
func glassixBatch(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("audit.source", "glassix")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < n; i++ {
		r := lrs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC)))
		r.SetEventName("RoleRemoved")
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.Body().SetStr("[email protected] removed role SystemUser from [email protected]")
		a := r.Attributes()
		a.PutStr("id", "ad681bbc-9608-4a2a-a283-717011f35c35-"+strconv.Itoa(i))
		a.PutStr("dateTime", "2024-01-15T11:19:07.7935597Z")
		a.PutStr("departmentId", "95b4ae47-a872-4dd5-920d-7b01d64288ad")
		for _, p := range []string{"initiatorUser", "targetUser"} {
			a.PutStr(p+"_id", "f4d56da7-f39f-4741-8c84-4b5b34e40ad3")
			a.PutStr(p+"_gender", "Undefined")
			a.PutStr(p+"_UserName", "[email protected]")
			a.PutStr(p+"_culture", "en-US")
			a.PutStr(p+"_isAnonymous", "false")
			a.PutStr(p+"_uniqueArgument", "")
			a.PutStr(p+"_type", "AGENT")
		}
		a.PutStr("ipAddress", "212.199.97.210")
		a.PutStr("message", "[email protected] removed role SystemUser from [email protected]")
		a.PutStr("type", "RoleRemoved")
		a.PutStr("logType", "Security")
	}
	return ld
}

// BenchmarkExportTCP sends batches of 100 Glassix events through the whole
// exporter (exporterhelper, formatting, octet-counted framing) to a
// receiver on loopback TCP that reads and discards.
func BenchmarkExportTCP(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
	}()
	exp := createExporter(b, syncConfig(l.Addr().String()))
	require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))

	const batch = 100
	ld := glassixBatch(batch)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	msgs := float64(b.N * batch)
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")

	require.NoError(b, exp.Shutdown(context.Background()))
	_ = l.Close()
	wg.Wait()
}

// BenchmarkExportRELP is BenchmarkExportTCP over RELP: the same batches,
// sent with the default window (128) to the in-process RELP server on
// loopback, which answers each message "200 OK"; a batch returns when
// every answer is in.
func BenchmarkExportRELP(b *testing.B) {
	srv := relptest.Start(b, relptest.Options{Discard: true})
	cfg := syncConfig(srv.Addr())
	cfg.Transport = TransportRELP
	exp := createExporter(b, cfg)
	require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))

	const batch = 100
	ld := glassixBatch(batch)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	msgs := float64(b.N * batch)
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")
	require.NoError(b, exp.Shutdown(context.Background()))
}
