package rfc5424exporter

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// settledIDs watches the exporter's reports of what it delivered.
type settledIDs struct {
	mu   sync.Mutex
	ids  []string
	gone bool
}

func (s *settledIDs) settled(ld plog.Logs, which func(int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ord, id := range durable.EventIDs(ld) {
		if which == nil || which(ord) {
			s.ids = append(s.ids, id)
		}
	}
}

func (s *settledIDs) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// The exporter registers once started, reports each delivered record (and
// each it gives up on for good: an unformattable one) and unregisters at
// shutdown, after its queue drained: what the auditlog processor's journal
// waits for.
func TestReportsWhatItDelivered(t *testing.T) {
	srv := newLineServer(t)
	cfg := syncConfig(srv.l.Addr().String())
	cfg.QueueConfig = createDefaultConfig().(*Config).QueueConfig
	cfg.MaxMessageSize = MinMaxMessageSize
	exp := createExporter(t, cfg)
	id := component.NewID(metadata.Type)
	_, _, ok := durable.Watch(id, nil, nil)
	require.False(t, ok, "not registered before it starts")
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	var s settledIDs
	replay, stop, ok := durable.Watch(id, s.settled, func() { s.mu.Lock(); s.gone = true; s.mu.Unlock() })
	require.True(t, ok)
	defer stop()
	assert.NotNil(t, replay)

	ld := newLogs("glassix", "A", "Huge", "B")
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i, id := range []string{"a", "huge", "b"} {
		lrs.At(i).Attributes().PutStr(auditrecord.AttrEventID, id)
	}
	lrs.At(1).Attributes().PutStr("blob", strings.Repeat("x", 1000))
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	srv.waitFor(t, 2)
	require.Eventually(t, func() bool { return len(s.got()) == 3 }, 10*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{"a", "huge", "b"}, s.got(), "delivered, or given up for good")

	require.NoError(t, exp.Shutdown(context.Background()))
	s.mu.Lock()
	assert.True(t, s.gone, "unregistered at shutdown")
	s.mu.Unlock()
}
