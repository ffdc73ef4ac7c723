package auditwebhookreceiver

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	defaults := func() *Config { return createDefaultConfig().(*Config) }
	tests := []struct {
		name string
		want func() *Config
	}{
		{
			// `glassix:` with no settings serves Glassix with its defaults;
			// the absent sippy block is not served.
			name: "",
			want: func() *Config {
				cfg := defaults()
				cfg.Glassix.GetOrInsertDefault()
				cfg.CTReplay.GetOrInsertDefault()
				return cfg
			},
		},
		{
			name: "all",
			want: func() *Config {
				cfg := defaults()
				cfg.NetAddr.Endpoint = "0.0.0.0:9443"
				cfg.MaxRequestBodySize = 1 << 20
				cfg.ReadTimeout = 20 * time.Second
				cfg.HealthPath = "/healthz"
				cfg.ForwardUnparsed = false
				cfg.RetryAfter = 30 * time.Second
				cfg.AcceptTimeout = 10 * time.Second
				cfg.MaxInFlightBytes = 4 << 20
				cfg.Glassix = configoptional.Some(GlassixConfig{
					Path:          "/hooks/glassix",
					Secret:        "glassix-api-secret",
					MaxClockSkew:  2 * time.Minute,
					ForwardEvents: []string{"NEW_TICKET", "TICKET_CLOSED"},
				})
				cfg.CTReplay = configoptional.Some(CTReplayConfig{Path: "/hooks/ctreplay", DateOrder: MonthFirst, Timezone: "Europe/Rome"})
				cfg.Sippy = configoptional.Some(SippyConfig{Path: "/hooks/sippy", Timezone: "America/New_York"})
				return cfg
			},
		},
		{
			name: "sippy_only",
			want: func() *Config {
				cfg := defaults()
				cfg.Sippy.GetOrInsertDefault()
				return cfg
			},
		},
	}
	for _, tt := range tests {
		t.Run("id "+tt.name, func(t *testing.T) {
			cfg := loadConfig(t, tt.name)
			assert.Equal(t, tt.want(), cfg)
			assert.NoError(t, confmap.Validate(cfg))
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "127.0.0.1:8088", cfg.NetAddr.Endpoint)
	assert.Equal(t, int64(8<<20), cfg.MaxRequestBodySize)
	assert.Equal(t, "/health", cfg.HealthPath)
	assert.True(t, cfg.ForwardUnparsed)
	assert.Equal(t, 5*time.Second, cfg.AcceptTimeout)
	assert.Less(t, cfg.AcceptTimeout, cfg.WriteTimeout, "a refusal must be written before write_timeout")
	assert.Equal(t, int64(32<<20), cfg.MaxInFlightBytes, "four near-limit bodies")
	assert.False(t, cfg.Glassix.HasValue(), "a vendor block is served only when written")
	g := cfg.Glassix.GetOrInsertDefault()
	assert.Equal(t, GlassixConfig{Path: "/glassix", MaxClockSkew: 5 * time.Minute, AcceptDateSignature: true}, *g)
	assert.Equal(t, CTReplayConfig{Path: "/ctreplay", DateOrder: DayFirst, Timezone: "UTC"}, *cfg.CTReplay.GetOrInsertDefault())
	assert.Equal(t, SippyConfig{Path: "/sippy", Timezone: "UTC"}, *cfg.Sippy.GetOrInsertDefault())
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "invalid"))
	require.Error(t, err)
	for _, want := range []string{
		"endpoint: must not be empty",
		"max_request_body_size: must not be negative, got -1",
		"retry_after: must not be negative, got -1s",
		"accept_timeout: must be positive, got 0s",
		"max_in_flight_bytes: 1000 must be at least max_request_body_size (20971520), or the largest requests could never be read",
		`health_path: must be a clean absolute URL path like /glassix, got "health"`,
		"glassix::max_clock_skew: must be positive, got 0s",
		"glassix::forward_events[0]: must not be empty",
		`ctreplay::path: "/events" is already used by glassix::path`,
		`ctreplay::date_order: must be day_first or month_first, got "year_first"`,
		`ctreplay::timezone: unknown time zone "Mars/Olympus_Mons"`,
		`sippy::path: must be a clean absolute URL path like /glassix, got "/sippy/"`,
		`sippy::timezone: unknown time zone "Mars/Olympus_Mons"`,
	} {
		assert.ErrorContains(t, err, want)
	}
}

// An empty timezone is UTC, as it is for the auditlog processor: both read
// the setting with vendors.LoadTimezone.
func TestEmptyTimezoneIsUTC(t *testing.T) {
	cfg := loadConfig(t, "empty_timezone")
	require.NoError(t, confmap.Validate(cfg))
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	sink := new(consumertest.LogsSink)
	rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	s := &testServer{addr: rcv.addr.String(), rcv: rcv}

	r := s.post(t, "/ctreplay", []byte(`{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"A"}`))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = s.post(t, "/sippy", []byte(`{"resource":"accounts:i_account=1","action":"U","action_by":"u:1:3726:main_admin","date":"2009-11-18 09:57:29","user_ip":"192.0.2.10"}`))
	require.Equal(t, http.StatusOK, r.status, r.raw)

	got := sink.AllLogs()
	require.Len(t, got, 2)
	ts := func(i int) time.Time {
		return got[i].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Timestamp().AsTime()
	}
	assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), ts(0), "CTReplay's ts")
	assert.Equal(t, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC), ts(1), "Sippy's date")
}

func TestValidateAcceptTimeoutBelowWriteTimeout(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "accept_timeout_too_long"))
	assert.ErrorContains(t, err, "accept_timeout: 10s must be shorter than write_timeout (10s)")
}

func TestValidateInFlightBytesHoldTheLargestBody(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "in_flight_below_default_body_size"))
	assert.ErrorContains(t, err, "max_in_flight_bytes: 16777216 must be at least max_request_body_size (20971520)")
}

func TestValidateNeedsASource(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "nothing_served"))
	assert.ErrorContains(t, err, "no source configured: add at least one of glassix, ctreplay or sippy")
}
