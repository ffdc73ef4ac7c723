package auditsyslogreceiver

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/metadata"
)

func TestFactoryType(t *testing.T) {
	assert.Equal(t, metadata.Type, NewFactory().Type())
	assert.Equal(t, metadata.LogsStability, NewFactory().LogsStability())
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.MustNewIDWithName(metadata.Type.String(), name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)

	cfg, err = loadConfig(t, "all")
	require.NoError(t, err)
	tlsCfg := configtls.NewDefaultServerConfig()
	tlsCfg.CertFile, tlsCfg.KeyFile = "/etc/otelcol/ctreplay.crt", "/etc/otelcol/ctreplay.key"
	assert.Equal(t, &Config{
		UDP:            DatagramConfig{Endpoint: "0.0.0.0:5514", ReceiveBufferSize: 32 << 20},
		TCP:            StreamConfig{Endpoint: "[::]:5514", Framing: "newline"},
		TLS:            TLSConfig{Endpoint: "0.0.0.0:6514", Framing: "json", TLSServerSettings: TLSServerSettings(tlsCfg)},
		Unix:           StreamConfig{Endpoint: "/run/ctreplay/syslog.sock", Framing: "octet_counting", SocketMode: "0600"},
		Unixgram:       DatagramConfig{Endpoint: "/dev/log-ctreplay", ReceiveBufferSize: 8 << 20, SocketMode: "0660"},
		MaxMessageSize: 65536,
		MaxConnections: 10,
		IdleTimeout:    10 * time.Minute,
		DrainTimeout:   2 * time.Second,
		QueueSize:      5000,
		QueueBytes:     1 << 20,
		CTReplay:       CTReplayConfig{DateOrder: "month_first", Timezone: "Europe/Rome"},
	}, cfg)

	// Empty endpoints: every listener off, still valid.
	_, err = loadConfig(t, "off")
	require.NoError(t, err)

	_, err = loadConfig(t, "invalid")
	require.Error(t, err)
	for _, want := range []string{
		`udp::endpoint: want host:port, got "5514"`,
		`tcp::framing: unknown framing "lines": want json, newline or octet_counting`,
		`unix::socket_mode: want octal permissions such as 0660, got "rw"`,
		"tls: TLS configuration must include both certificate and key for server connections (cert_file and key_file are required when tls::endpoint is set)",
		"udp::receive_buffer_size: must not be negative, got -1",
		"max_message_size: must be at least 1, got 0",
		"max_connections: must be at least 1, got 0",
		"idle_timeout: must not be negative, got -1s",
		"drain_timeout: must be positive, got 0s",
		"queue_size: must be at least 1, got 0",
		"queue_bytes: must hold at least one message of max_message_size (0), got -1",
		`ctreplay::date_order: unknown date order "year_first"`,
		"ctreplay::timezone: unknown time zone Mars/Olympus",
	} {
		assert.ErrorContains(t, err, want)
	}
}

// TestLifecycle creates, starts and shuts down the receiver twice on the
// configuration in metadata.yaml, checking it listens in between, and that
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
			c, err := net.Dial("tcp", rcv.(*syslogReceiver).addr("tcp").String())
			require.NoError(t, err)
			c.Close()
			require.NotNil(t, rcv.(*syslogReceiver).addr("udp"))
			require.NoError(t, rcv.Shutdown(context.Background()))
		})
	}
}

func TestStartFailsOnABusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.UDP.Endpoint = "127.0.0.1:0"
	cfg.TCP.Endpoint = l.Addr().String()
	rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "tcp::endpoint: ")
	require.ErrorContains(t, err, "address already in use")
	require.NoError(t, rcv.Shutdown(context.Background()))
}

func TestStartRefusesAFileThatIsNotASocket(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Unixgram.Endpoint = filepath.Join(t.TempDir(), "file")
	require.NoError(t, writeFile(cfg.Unixgram.Endpoint))
	rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, rcv.Start(context.Background(), componenttest.NewNopHost()), "exists and is not a socket")
}
