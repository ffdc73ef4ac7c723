package rfc5424exporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// newLogs returns one resource of source with one record per event name,
// each with a body and one attribute "n" holding its index.
func newLogs(source string, events ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, source)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, ev := range events {
		r := lrs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC)))
		r.SetEventName(ev)
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.Body().SetStr("body of " + ev)
		r.Attributes().PutStr("n", strconv.Itoa(i))
	}
	return ld
}

func createExporter(t testing.TB, cfg *Config) exporter.Logs {
	t.Helper()
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zaptest.NewLogger(t)
	// A fixed ID: the persistent queue's storage is keyed by it.
	set.ID = component.NewID(metadata.Type)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	return exp
}

// startExporter creates and starts an exporter, shut down when the test
// ends.
func startExporter(t testing.TB, cfg *Config) exporter.Logs {
	t.Helper()
	exp := createExporter(t, cfg)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

// syncConfig sends synchronously: no queue, no retry, so ConsumeLogs
// returns what the push returned.
func syncConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.Hostname = "collector-1"
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	return cfg
}

// lineServer is a TCP syslog receiver for octet-counted frames that keeps
// every message it read, checked by the strict RFC 5424 parser.
type lineServer struct {
	l    net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func newLineServer(t *testing.T) *lineServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &lineServer{l: l}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					lenStr, err := r.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
					if err != nil {
						t.Errorf("bad frame length %q", lenStr)
						return
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(r, buf); err != nil {
						return
					}
					s.mu.Lock()
					s.msgs = append(s.msgs, string(buf))
					s.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); s.wg.Wait() })
	return s
}

func (s *lineServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func (s *lineServer) waitFor(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.received()) >= n }, 30*time.Second, 10*time.Millisecond)
	return s.received()
}

func TestLifecycle(t *testing.T) {
	// Nothing listens: the collector must still start, twice.
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:1"
	for i := 0; i < 2; i++ {
		exp := createExporter(t, cfg)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, exp.ConsumeLogs(context.Background(), newLogs("glassix", "Queued")), "the queue accepts while the SIEM is down")
		require.NoError(t, exp.Shutdown(context.Background()))
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:1"
	require.NoError(t, createExporter(t, cfg).Shutdown(context.Background()))
}

func TestRecordsReachTheWireValid(t *testing.T) {
	srv := newLineServer(t)
	exp := startExporter(t, syncConfig(srv.l.Addr().String()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), newLogs("glassix", "UserRemoved", "RoleRemoved")))
	got := srv.waitFor(t, 2)
	require.Len(t, got, 2)
	assert.Equal(t, `<166>1 2024-01-15T11:19:07.793559Z collector-1 glassix - UserRemoved [data n="0"] UserRemoved: body of UserRemoved`, got[0])
	p := rfc5424.NewParser(rfc5424.WithCompliantMsg())
	for _, m := range got {
		_, err := p.Parse([]byte(m))
		require.NoError(t, err, m)
	}
}

// A record whose header and structured data exceed max_message_size can
// never be sent: it is dropped, logged and counted failed, alone; the rest
// of its batch is sent and counted sent, through the queue as without it.
func TestUnformattableRecordIsCountedFailedAlone(t *testing.T) {
	for _, tt := range []struct {
		format string
		queued bool
	}{{"rfc5424", false}, {"rfc5424", true}, {"cef", true}} {
		t.Run(fmt.Sprintf("%s queued=%v", tt.format, tt.queued), func(t *testing.T) {
			srv := newLineServer(t)
			cfg := syncConfig(srv.l.Addr().String())
			if tt.queued {
				cfg.QueueConfig = createDefaultConfig().(*Config).QueueConfig
			}
			if tt.format != "rfc5424" {
				cfg.Format = tt.format
			}
			cfg.MaxMessageSize = MinMaxMessageSize
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := exportertest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			core, logs := observer.New(zap.InfoLevel)
			set.Logger = zap.New(core)
			exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { assert.NoError(t, exp.Shutdown(context.Background())) }) // again: closes the connection if the test stops early

			ld := newLogs("glassix", "Small1", "Huge", "Small2")
			huge := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1)
			huge.Attributes().PutStr("blob", strings.Repeat("x", 1000)) // structured data alone is over the limit
			if tt.format == "cef" {
				// CEF's extension is cut to fit; its header, which names the
				// event, is not.
				huge.SetEventName("Huge" + strings.Repeat("x", 1000))
			}
			before := plog.NewLogs()
			ld.CopyTo(before)

			assert.NoError(t, exp.ConsumeLogs(context.Background(), ld))
			got := srv.waitFor(t, 2)
			require.NoError(t, exp.Shutdown(context.Background()))
			require.Len(t, got, 2, "the rest of the batch goes")
			assert.Contains(t, got[0], " Small1 ")
			assert.Contains(t, got[1], " Small2 ")
			assert.Equal(t, before, ld, "the caller's logs are left as they were")

			assert.Equal(t, int64(2), metricSum(t, tel, "otelcol_exporter_sent_log_records"))
			assert.Equal(t, int64(1), metricSum(t, tel, "otelcol_exporter_send_failed_log_records"))
			dropped := logs.FilterMessageSnippet("Dropping records that cannot be formatted").All()
			require.Len(t, dropped, 1)
			assert.Equal(t, int64(1), dropped[0].ContextMap()["dropped"])
			assert.Contains(t, dropped[0].ContextMap()["error"], `record "Huge`)
			assert.Zero(t, logs.FilterMessageSnippet("Exporting failed").Len(), "exporterhelper saw no failure")
		})
	}
}

// metricSum adds up an int64 counter's data points.
func metricSum(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

func TestLongMessageTextIsCut(t *testing.T) {
	srv := newLineServer(t)
	cfg := syncConfig(srv.l.Addr().String())
	cfg.MaxMessageSize = 600
	exp := startExporter(t, cfg)
	ld := newLogs("glassix", "Long")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetStr(strings.Repeat("é", 1000))
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	got := srv.waitFor(t, 1)
	assert.LessOrEqual(t, len(got[0]), 600)
	assert.GreaterOrEqual(t, len(got[0]), 599, "cut on a character boundary, as late as possible")
	_, err := rfc5424.NewParser(rfc5424.WithCompliantMsg()).Parse([]byte(got[0]))
	require.NoError(t, err)
}

func TestPeerDownIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	exp := startExporter(t, syncConfig(addr))
	err = exp.ConsumeLogs(context.Background(), newLogs("sippy", "a", "b"))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "a down SIEM is worth retrying")
	var logsErr consumererror.Logs
	require.ErrorAs(t, err, &logsErr)
	assert.Equal(t, 2, logsErr.Data().LogRecordCount(), "every unsent record is handed back for retry")
}

func TestUnsentKeepsOnlyUnwrittenRecords(t *testing.T) {
	ld := plog.NewLogs()
	for r := 0; r < 2; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("r", int64(r))
		for k := 0; k < 3; k++ {
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetEventName(strconv.Itoa(r*3 + k))
		}
	}
	// Records 0-5; record 2 was unformattable; messages 0-2 (records 0, 1, 3) were written.
	msgOf := []int{0, 1, -1, 2, 3, 4}
	out := unsent(ld, msgOf, func(m int) bool { return m < 3 })
	var names []string
	for i := 0; i < out.ResourceLogs().Len(); i++ {
		rl := out.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				names = append(names, lrs.At(k).EventName())
			}
		}
	}
	assert.Equal(t, []string{"4", "5"}, names)
	assert.Equal(t, 1, out.ResourceLogs().Len(), "empty resources are dropped")
	v, _ := out.ResourceLogs().At(0).Resource().Attributes().Get("r")
	assert.Equal(t, int64(1), v.Int(), "resources stay with their records")
}

// Only exporterhelper's drop line for a request interrupted by shutdown is
// rewritten, and only with a persistent queue: a permanent failure, or an
// in-memory queue's request, is dropped, and the line says so.
func TestOnlyAShutdownInterruptionIsLoggedAsKept(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	cfg := createDefaultConfig().(*Config)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	interrupted := func(l *zap.Logger) {
		l.Error("Exporting failed. Dropping data.", zap.Error(errors.New("interrupted due to shutdown: connection refused")), zap.Int("dropped_items", 20))
	}

	// An in-memory queue nobody journals for does lose the request: said
	// as exporterhelper says it.
	interrupted(helperSettings(set, cfg).Logger)
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, helperDropMessage, logs.TakeAll()[0].Message)

	// An in-memory queue a journal waits for: the audit events are in the
	// journal.
	unregister := durable.RegisterExporter(set.ID, nil)
	_, stop, ok := durable.Watch(set.ID, func(plog.Logs, func(int) bool) {}, func() {})
	require.True(t, ok)
	interrupted(helperSettings(set, cfg).Logger)
	stop()
	unregister()
	journaled := logs.TakeAll()
	require.Len(t, journaled, 1)
	assert.Equal(t, journaledMessage, journaled[0].Message)
	assert.Equal(t, zap.WarnLevel, journaled[0].Level)
	assert.Equal(t, int64(20), journaled[0].ContextMap()["items"])

	storage := component.MustNewIDWithName("file_storage", "queue")
	cfg.QueueConfig.Get().StorageID = &storage
	logger := helperSettings(set, cfg).Logger
	interrupted(logger)
	logger.Error("Exporting failed. Dropping data.", zap.Error(errors.New("not retryable error: too large")), zap.Int("dropped_items", 3))
	logger.Info("Exporting failed. Will retry the request after interval.", zap.Error(errors.New("interrupted due to shutdown: x")))

	all := logs.All()
	require.Len(t, all, 3)
	assert.Equal(t, zap.InfoLevel, all[0].Level)
	assert.Equal(t, keptMessage, all[0].Message)
	assert.Equal(t, map[string]any{"error": "interrupted due to shutdown: connection refused", "kept_items": int64(20)}, all[0].ContextMap())
	assert.Equal(t, zap.ErrorLevel, all[1].Level)
	assert.Equal(t, "Exporting failed. Dropping data.", all[1].Message)
	assert.Equal(t, int64(3), all[1].ContextMap()["dropped_items"])
	assert.Equal(t, "Exporting failed. Will retry the request after interval.", all[2].Message)
}
