package rfc5424exporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	defaults := createDefaultConfig().(*Config)
	defaults.Endpoint = "127.0.0.1:6514"

	queue := *createDefaultConfig().(*Config).QueueConfig.Get()
	queue.QueueSize = 5000
	storage := component.MustNewIDWithName("file_storage", "queue")
	queue.StorageID = &storage
	all := &Config{
		Endpoint:                  "siem.example.com:6514",
		Transport:                 TransportTLS,
		Framing:                   FramingNonTransparent,
		Facility:                  "auth",
		Hostname:                  "collector-1",
		AppName:                   "audit",
		MsgID:                     "AUDIT",
		SDID:                      "audit@32473",
		IncludeResourceAttributes: true,
		ResourceSDID:              "res@32473",
		MessageTemplate:           "{source} {event_name}: {body}",
		MaxMessageSize:            4096,
		TLS: configtls.ClientConfig{Config: configtls.Config{
			CAFile: "/etc/ssl/siem-ca.pem", CertFile: "/etc/otelcol/client.pem", KeyFile: "/etc/otelcol/client-key.pem",
		}},
		RELP:          defaultRELPConfig(),
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: 10 * time.Second},
		QueueConfig:   configoptional.Some(queue),
		RetryConfig: func() configretry.BackOffConfig {
			r := configretry.NewDefaultBackOffConfig()
			r.InitialInterval, r.MaxInterval, r.MaxElapsedTime = time.Second, 30*time.Second, 0
			return r
		}(),
	}
	local := createDefaultConfig().(*Config)
	local.Endpoint, local.Transport = "/run/siem/syslog.sock", TransportUnixgram

	relp := createDefaultConfig().(*Config)
	relp.Endpoint, relp.Transport = "siem.example.com:2514", TransportRELP
	relp.RELP = RELPConfig{WindowSize: 256, ResponseTimeout: 20 * time.Second, TLS: true}
	relp.TLS = configtls.ClientConfig{Config: configtls.Config{CAFile: "/etc/ssl/siem-ca.pem"}}

	tests := []struct {
		name string
		want *Config
	}{
		{"", defaults},
		{"all", all},
		{"local", local},
		{"relp", relp},
	}
	for _, tt := range tests {
		t.Run("rfc5424/"+tt.name, func(t *testing.T) {
			got, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, TransportTCP, cfg.Transport)
	assert.Equal(t, FramingOctetCounting, cfg.framing())
	assert.Equal(t, "local4", cfg.Facility)
	assert.Equal(t, "data", cfg.SDID)
	assert.Equal(t, DefaultMaxMessageSizeStream, cfg.maxMessageSize())
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "retry until the SIEM is back")
	queue := cfg.QueueConfig.Get()
	assert.Equal(t, 1, queue.NumConsumers, "one consumer keeps records in order")
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, queue.Sizer, "memory bounded in records whatever the events per request")
	assert.Equal(t, int64(5_000), queue.QueueSize)
	assert.True(t, queue.BlockOnOverflow, "a full queue makes the request wait, not fail at once")
	require.True(t, queue.Batch.HasValue(), "batching on by default")
	batch := queue.Batch.Get()
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, batch.Sizer)
	assert.Equal(t, 200*time.Millisecond, batch.FlushTimeout)
	assert.Equal(t, int64(500), batch.MinSize)
	assert.Equal(t, int64(2_000), batch.MaxSize)
	require.NoError(t, queue.Validate())
	cfg.Transport = TransportUDP
	assert.Equal(t, DefaultMaxMessageSizeDatagram, cfg.maxMessageSize())
	cfg.Transport = TransportUnix
	assert.Equal(t, FramingNonTransparent, cfg.framing())
	assert.Error(t, cfg.Validate(), "endpoint is required")
}

func TestInvalidConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(t, "invalid")
	require.Error(t, err)
	for _, want := range []string{
		`endpoint: "siem.example.com" is not host:port`,
		"framing: applies to tcp, tls and unix only",
		`facility: unknown facility "local9"`,
		`sd_id: "my data" contains ' '`,
		"max_message_size: 100 is below the 480 octets",
		`tls: is set but transport is "udp"`,
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestInvalidRELPConfig(t *testing.T) {
	_, err := loadConfig(t, "relp_misplaced")
	assert.ErrorContains(t, err, `relp: is set but transport is "tcp"; use transport: relp`)

	_, err = loadConfig(t, "relp_invalid")
	require.Error(t, err)
	for _, want := range []string{
		"framing: applies to tcp, tls and unix only; relp frames each message by its length",
		"relp.window_size: 0 must be at least 1",
		"relp.response_timeout: 0s must be positive",
		"tls: is set but relp.tls is false; set relp.tls: true",
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestRELPDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, RELPConfig{WindowSize: 128, ResponseTimeout: 10 * time.Second}, cfg.RELP)
	cfg.Transport, cfg.Endpoint = TransportRELP, "127.0.0.1:2514"
	require.NoError(t, cfg.Validate())
	assert.Equal(t, DefaultMaxMessageSizeStream, cfg.maxMessageSize(), "rsyslog's maxMessageSize, which imrelp's maxDataSize follows")
	assert.False(t, cfg.formatOptionsWith(0, "-").EscapeNewlines, "RELP frames by length: newlines travel as they are")
	cfg.Endpoint = "siem"
	assert.ErrorContains(t, cfg.Validate(), `endpoint: "siem" is not host:port`)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown transport", func(c *Config) { c.Transport = "sctp" }, `transport: unknown transport "sctp"`},
		{"unknown framing", func(c *Config) { c.Framing = "lines" }, `framing: unknown framing "lines"`},
		{"port out of range", func(c *Config) { c.Endpoint = "h:70000" }, `endpoint: port "70000" is not a number`},
		{"socket path missing", func(c *Config) { c.Transport, c.Endpoint = TransportUnix, "" }, "endpoint: must be set (the socket's path)"},
		{"hostname with a space", func(c *Config) { c.Hostname = "my host" }, `hostname: "my host" contains ' '`},
		{"app name too long", func(c *Config) { c.AppName = string(make([]byte, 49)) }, "app_name: "},
		{"msg id too long", func(c *Config) { c.MsgID = "ad681bbc-9608-4a2a-a283-717011f35c35" }, "msg_id: \"ad681bbc-9608-4a2a-a283-717011f35c35\" is longer than 32"},
		{"resource sd id missing", func(c *Config) { c.IncludeResourceAttributes, c.ResourceSDID = true, "" }, "resource_sd_id: must be set"},
		{"same sd ids", func(c *Config) { c.IncludeResourceAttributes, c.ResourceSDID = true, "data" }, "resource_sd_id must differ"},
		{"bad template", func(c *Config) { c.MessageTemplate = "{message}" }, "message_template: unknown placeholder {message}"},
		{"unknown format", func(c *Config) { c.Format = "json" }, `format: unknown format "json": want rfc5424, cef or leef`},
		{"delimiter without leef", func(c *Config) { c.Format, c.LEEFDelimiter = "cef", "^" }, `leef_delimiter: is set but format is "cef"`},
		{"delimiter not one character", func(c *Config) { c.Format, c.LEEFDelimiter = "leef", "^^" }, `leef_delimiter: "^^" is not one character or its hex form`},
		{"delimiter that cannot separate", func(c *Config) { c.Format, c.LEEFDelimiter = "leef", "=" }, "leef.delimiter: '=' cannot separate attributes"},
		{"device version with a line break", func(c *Config) { c.DeviceVersion = "1\n" }, `device_version: "1\n" contains '\n'`},
		{"device version with a space", func(c *Config) { c.DeviceVersion = "4.0 SP1" }, ""},
		{"hex tab delimiter", func(c *Config) { c.Format, c.LEEFDelimiter = "leef", "x09" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Endpoint = "127.0.0.1:6514"
			tt.mutate(cfg)
			if tt.want == "" {
				assert.NoError(t, cfg.Validate())
				return
			}
			assert.ErrorContains(t, cfg.Validate(), tt.want)
		})
	}
}
