package auditselfreceiver

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		want    string
		wantErr string
	}{
		{"checkpoints", "checkpoints", ""},
		{"viewer", "viewer", ""},
		{"bad", "metrics", `stream must be "checkpoints" or "viewer", got "metrics"`},
		{"unset", "", "stream must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			assert.Equal(t, tt.want, cfg.Stream)
			if tt.wantErr == "" {
				assert.NoError(t, cfg.Validate())
			} else {
				assert.ErrorContains(t, cfg.Validate(), tt.wantErr)
			}
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func start(t *testing.T, stream string, next consumer.Logs) component.Component {
	t.Helper()
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), &Config{Stream: stream}, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	return rcv
}

// TestLifecycle: start and shut down twice; records published while no
// receiver runs wait for the next one; a second receiver on a stream is
// refused.
func TestLifecycle(t *testing.T) {
	const stream = "test-lifecycle"
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), &Config{Stream: stream}, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, rcv.Shutdown(context.Background()), "shutdown without start")

	require.True(t, selfaudit.Publish(stream, selfaudit.Record{Event: "before.start", Time: time.Now()}))
	for range 2 {
		sink := new(consumertest.LogsSink)
		r := start(t, stream, sink)
		_, _, err := selfaudit.Subscribe(stream)
		assert.ErrorContains(t, err, "already has a receiver")
		require.True(t, selfaudit.Publish(stream, selfaudit.Record{Event: "running", Time: time.Now()}))
		require.Eventually(t, func() bool { return sink.LogRecordCount() >= 1 }, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, r.Shutdown(context.Background()))
	}
}

func TestRecordsFollowTheContract(t *testing.T) {
	const stream = "test-contract"
	sink := new(consumertest.LogsSink)
	r := start(t, stream, sink)
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	at := time.Date(2026, 12, 6, 12, 0, 0, 123456789, time.UTC)
	selfaudit.Publish(stream, selfaudit.Record{Time: at, Event: "viewer.login_failed", Severity: plog.SeverityNumberWarn, SeverityText: "WARN",
		Body: "failed login", Attributes: map[string]any{"audit.actor": "mallory", "attempts": int64(3), "throttled": false}})
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 1 }, 10*time.Second, 10*time.Millisecond)
	rl := sink.AllLogs()[0].ResourceLogs().At(0)
	src, _ := rl.Resource().Attributes().Get("audit.source")
	assert.Equal(t, "otelcol-audit", src.Str())
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "viewer.login_failed", lr.EventName())
	assert.Equal(t, at, lr.Timestamp().AsTime())
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	assert.Equal(t, "failed login", lr.Body().Str())
	attrs := lr.Attributes().AsRaw()
	assert.Regexp(t, `^otelcol-audit:[0-9a-f]{32}$`, attrs["audit.event_id"], "an id for the journal")
	delete(attrs, "audit.event_id")
	assert.Equal(t, map[string]any{"audit.actor": "mallory", "attempts": int64(3), "throttled": false}, attrs)
}

// refusing refuses the first n calls with a retryable error.
type refusing struct {
	consumertest.LogsSink
	n int
}

func (r *refusing) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if r.n > 0 {
		r.n--
		return errors.New("memory limit reached")
	}
	return r.LogsSink.ConsumeLogs(ctx, ld)
}

func TestRetriesWhileThePipelineRefuses(t *testing.T) {
	const stream = "test-retry"
	next := &refusing{n: 3}
	r := start(t, stream, next)
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	selfaudit.Publish(stream, selfaudit.Record{Time: time.Now(), Event: "archive.checkpoint"})
	require.Eventually(t, func() bool { return next.LogRecordCount() == 1 }, 10*time.Second, 10*time.Millisecond)
}
