package auditwebhookreceiver

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

func TestFactoryType(t *testing.T) {
	assert.Equal(t, metadata.Type, NewFactory().Type())
	assert.Equal(t, metadata.LogsStability, NewFactory().LogsStability())
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

// TestLifecycle creates, starts and shuts down the receiver twice on the
// configuration in metadata.yaml, checking it serves in between, and that
// shutting down a receiver that never started works.
func TestLifecycle(t *testing.T) {
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(&cfg))
	set := receivertest.NewNopSettings(metadata.Type)

	t.Run("shutdown without start", func(t *testing.T) {
		rcv, err := factory.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
		require.NoError(t, err)
		require.NoError(t, rcv.Shutdown(context.Background()))
	})
	for _, round := range []string{"first", "second"} {
		t.Run(round+" start and shutdown", func(t *testing.T) {
			rcv, err := factory.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
			require.NoError(t, err)
			require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
			resp, err := http.Get("http://" + rcv.(*auditReceiver).addr.String() + "/health")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			http.DefaultClient.CloseIdleConnections()
			require.NoError(t, rcv.Shutdown(context.Background()))
		})
	}
}

func TestStartFailsOnABusyPort(t *testing.T) {
	first := startReceiver(t, nil, consumertest.NewNop())
	cfg := testConfig(nil)
	cfg.NetAddr.Endpoint = first.addr
	rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	assert.ErrorContains(t, rcv.Start(context.Background(), componenttest.NewNopHost()), "address already in use")
	require.NoError(t, rcv.Shutdown(context.Background()))
}
