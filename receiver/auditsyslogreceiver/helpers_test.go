package auditsyslogreceiver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/metadata"
)

type testReceiver struct {
	*syslogReceiver
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
	dir  string
}

// startReceiver starts a receiver with every listener on loopback (unix
// sockets in a temporary directory), as mutate leaves them.
func startReceiver(t testing.TB, mutate func(*Config), next consumer.Logs) *testReceiver {
	t.Helper()
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.UDP.Endpoint = "127.0.0.1:0"
	cfg.TCP.Endpoint = "127.0.0.1:0"
	cfg.Unix.Endpoint = filepath.Join(dir, "stream.sock")
	cfg.Unixgram.Endpoint = filepath.Join(dir, "dgram.sock")
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zap.DebugLevel)
	set.Logger = zap.New(core)
	rcv, err := newReceiver(cfg, set, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return &testReceiver{syslogReceiver: rcv, tel: tel, logs: logs, dir: dir}
}

// dial connects to a listener of the receiver.
func (r *testReceiver) dial(t testing.TB, transport string) net.Conn {
	t.Helper()
	a := r.addr(transport)
	require.NotNil(t, a, "%s listener", transport)
	network := transport
	if transport == "unixgram" {
		// A client socket of its own, as unix-dgram makes.
		c, err := net.DialUnix("unixgram", nil, a.(*net.UnixAddr))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	c, err := net.Dial(network, a.String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// metricSum adds up a counter's data points whose attributes include attrs.
func (r *testReceiver) metricSum(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := r.tel.GetMetric(name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		match := true
		for _, kv := range attrs {
			if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

// rec is what a test looks at in a record.
type rec struct {
	Source, EventName, Body, ParseError string
	Attrs                               map[string]any
	Timestamp                           time.Time
}

func records(sink *consumertest.LogsSink) []rec {
	var out []rec
	for _, ld := range sink.AllLogs() {
		out = append(out, recordsOf(ld)...)
	}
	return out
}

func recordsOf(ld plog.Logs) []rec {
	var out []rec
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		src, _ := rl.Resource().Attributes().Get("audit.source")
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				r := rec{Source: src.AsString(), EventName: lr.EventName(), Body: lr.Body().AsString(), Attrs: lr.Attributes().AsRaw()}
				if v, ok := r.Attrs["audit.parse_error"]; ok {
					r.ParseError = v.(string)
					delete(r.Attrs, "audit.parse_error")
				}
				if lr.Timestamp() != 0 {
					r.Timestamp = lr.Timestamp().AsTime()
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// waitRecords waits until the sink holds n records and returns them.
func waitRecords(t testing.TB, sink *consumertest.LogsSink, n int) []rec {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		if got := sink.LogRecordCount(); got != n {
			c.Errorf("%d of %d records so far", got, n)
		}
	}, 20*time.Second, 5*time.Millisecond)
	return records(sink)
}

// bsd formats a message as winston-syslog's default producer (glossy, BSD)
// does.
func bsd(msg string) string {
	return "<182>Dec  6 12:44:30 localhost node[4242]: " + msg
}

// event is a CTReplay event line with the given action and params.
func event(i int, params string) string {
	return fmt.Sprintf(`{"ts":"08/01/2021 - 12:44:30.%03d","domain":"SAASFCL","userID":"user%d","ipAddress":"::1","action":"SEARCH Recording","params":%s,"level":"info"}`, i%1000, i, params)
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }

func dialPlain(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }

func receiverSettings(testing.TB) receiver.Settings {
	return receivertest.NewNopSettings(metadata.Type)
}
