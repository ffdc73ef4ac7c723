package auditpullreceiver

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// host offers extensions to the receiver.
type host struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

var storageID = component.MustNewIDWithName("file_storage", "pull")

// countingStorage counts the checkpoint writes of a real file_storage.
type countingStorage struct {
	storage.Extension
	sets *atomic.Int64
}

func (s countingStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	return countingClient{Client: c, sets: s.sets}, err
}

type countingClient struct {
	storage.Client
	sets *atomic.Int64
}

func (c countingClient) Set(ctx context.Context, k string, v []byte) error {
	c.sets.Add(1)
	return c.Client.Set(ctx, k, v)
}

// newHost starts a file_storage extension in dir (a directory kept across
// the receiver's restarts) and returns a host offering it, and the count
// of its Set calls.
func newHost(t testing.TB, dir string) (host, *atomic.Int64) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	sets := &atomic.Int64{}
	return host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{
		storageID: countingStorage{Extension: ext.(storage.Extension), sets: sets},
	}}, sets
}

// refusing passes logs to sink, but refuses while refuse > 0 (counting
// down).
type refusing struct {
	sink   *consumertest.LogsSink
	refuse atomic.Int64
	calls  atomic.Int64
}

func (r *refusing) consumer(t *testing.T) consumer.Logs {
	c, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		r.calls.Add(1)
		if r.refuse.Add(-1) >= 0 {
			return errQueueFull
		}
		r.refuse.Store(0)
		return r.sink.ConsumeLogs(ctx, ld)
	})
	require.NoError(t, err)
	return c
}

type queueFull struct{}

func (queueFull) Error() string { return "sending queue is full" }

var errQueueFull = queueFull{}

// running is a started receiver with an observed logger.
type running struct {
	rcv  receiver.Logs
	logs *observer.ObservedLogs
	tel  *componenttest.Telemetry
	once sync.Once
}

// metricSum adds up a counter's data points whose attributes include
// attrs; 0 when it was never recorded.
func (r *running) metricSum(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := r.tel.GetMetric(name)
	if err != nil {
		return 0
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

// gauge is the last value of an int64 gauge.
func (r *running) gauge(t testing.TB, name string) int64 {
	t.Helper()
	m, err := r.tel.GetMetric(name)
	require.NoError(t, err)
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "%s is not an int64 gauge", name)
	require.NotEmpty(t, g.DataPoints)
	return g.DataPoints[0].Value
}

func (r *running) stop(t testing.TB) {
	r.once.Do(func() { require.NoError(t, r.rcv.Shutdown(context.Background())) })
}

func start(t testing.TB, cfg *Config, h component.Host, next consumer.Logs) *running {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := settings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), h))
	r := &running{rcv: rcv, logs: logs, tel: tel}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// fast makes retries quick for tests.
func fast(cfg *Config) {
	if s := cfg.Sippy.Get(); s != nil {
		s.RetryOnFailure.InitialInterval = 10 * time.Millisecond
		s.RetryOnFailure.MaxInterval = 100 * time.Millisecond
	}
	if g := cfg.Glassix.Get(); g != nil {
		g.RetryOnFailure.InitialInterval = 10 * time.Millisecond
		g.RetryOnFailure.MaxInterval = 100 * time.Millisecond
	}
}

// settings are the same receiver's at every call (receivertest names
// each call's receiver anew), so restarts find its checkpoint.
func settings() receiver.Settings {
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName(metadata.Type.String(), "sippy")
	return set
}
