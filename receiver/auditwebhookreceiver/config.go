package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// The values of CTReplayConfig.DateOrder.
const (
	DayFirst   = "day_first"
	MonthFirst = "month_first"
)

// Config is the receiver's configuration. The HTTP server settings
// (endpoint, tls, auth, max_request_body_size, timeouts, ...) are
// confighttp's, at the top level. Each vendor block that is present is
// served on its own path; an absent block is not served.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`

	Glassix  configoptional.Optional[GlassixConfig]  `mapstructure:"glassix"`
	CTReplay configoptional.Optional[CTReplayConfig] `mapstructure:"ctreplay"`
	Sippy    configoptional.Optional[SippyConfig]    `mapstructure:"sippy"`

	// HealthPath answers GET with 200 while the receiver runs. Empty
	// disables it.
	HealthPath string `mapstructure:"health_path"`

	// ForwardUnparsed turns an event that cannot be parsed into a record
	// whose Body is its raw text, flagged with audit.parse_error, so the
	// archive keeps the evidence. When false such events are dropped and
	// reported in the response.
	ForwardUnparsed bool `mapstructure:"forward_unparsed"`

	// RetryAfter is the Retry-After of a 503 answer (the pipeline refused
	// the events with a retryable error).
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// AcceptTimeout bounds how long a request waits for the pipeline to
	// accept its events (a full sending queue that blocks, behind the
	// requests before it), and for its share of MaxInFlightBytes, before
	// it is answered 503.
	AcceptTimeout time.Duration `mapstructure:"accept_timeout"`

	// MaxInFlightBytes bounds the request bodies held at once, in bytes:
	// a request leases its body's size before reading it (as it arrives
	// when the size is not announced) until it is answered, and waits up
	// to AcceptTimeout for its share, then gets 503.
	MaxInFlightBytes int64 `mapstructure:"max_in_flight_bytes"`

	// HTTPInstrumentation wraps the HTTP server in otelhttp, as confighttp
	// does by default: a span per request (when the collector exports
	// traces) and the http.server.* metrics (at telemetry level detailed
	// only). Off, requests skip otelhttp; the receiver's own telemetry
	// (accepted and refused records, refusals by cause) is unchanged.
	HTTPInstrumentation bool `mapstructure:"http_instrumentation"`
}

// GlassixConfig configures the Glassix webhook endpoint.
type GlassixConfig struct {
	// Path is the URL path Glassix posts to.
	Path string `mapstructure:"path"`
	// Secret is the Glassix API secret that signs the webhooks. Empty
	// accepts unsigned requests (with a warning at start).
	Secret configopaque.String `mapstructure:"secret"`
	// MaxClockSkew bounds how far X-Glassix-Auth-Date may be from the
	// collector's clock when a request is authenticated by the date
	// signature.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`
	// AcceptDateSignature accepts X-Glassix-Auth-Signature when
	// X-Hub-Signature (which signs the body) is absent.
	AcceptDateSignature bool `mapstructure:"accept_date_signature"`
	// ForwardEvents lists _event values besides AUDIT_LOGS whose changes
	// become records; "*" forwards all. The rest are counted and skipped.
	ForwardEvents []string `mapstructure:"forward_events"`
}

// CTReplayConfig configures the CTReplay endpoint.
type CTReplayConfig struct {
	// Path is the URL path CTReplay events are posted to.
	Path string `mapstructure:"path"`
	// DateOrder is how ts is read: day_first (08/01/2021 is 8 January) or
	// month_first (1 August).
	DateOrder string `mapstructure:"date_order"`
	// Timezone is the IANA zone of ts, which carries none; empty is UTC.
	Timezone string `mapstructure:"timezone"`
}

// SippyConfig configures the Sippy endpoint.
type SippyConfig struct {
	// Path is the URL path Sippy records are posted to.
	Path string `mapstructure:"path"`
	// Timezone is the IANA zone of dates written without one; empty is UTC.
	Timezone string `mapstructure:"timezone"`
}

// Validate reports every problem of the configuration at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty"))
	}
	if cfg.MaxRequestBodySize < 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size: must not be negative, got %d", cfg.MaxRequestBodySize))
	}
	if cfg.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after: must not be negative, got %s", cfg.RetryAfter))
	}
	if body := effectiveMaxBody(cfg.MaxRequestBodySize); cfg.MaxInFlightBytes < body {
		errs = append(errs, fmt.Errorf("max_in_flight_bytes: %d must be at least max_request_body_size (%d), or the largest requests could never be read", cfg.MaxInFlightBytes, body))
	}
	switch {
	case cfg.AcceptTimeout <= 0:
		errs = append(errs, fmt.Errorf("accept_timeout: must be positive, got %s", cfg.AcceptTimeout))
	case cfg.WriteTimeout > 0 && cfg.AcceptTimeout >= cfg.WriteTimeout:
		errs = append(errs, fmt.Errorf("accept_timeout: %s must be shorter than write_timeout (%s), or the answer cannot be written", cfg.AcceptTimeout, cfg.WriteTimeout))
	}
	if !cfg.Glassix.HasValue() && !cfg.CTReplay.HasValue() && !cfg.Sippy.HasValue() {
		errs = append(errs, errors.New("no source configured: add at least one of glassix, ctreplay or sippy"))
	}

	paths := map[string]string{}
	checkPath := func(key, p string) {
		switch {
		case p == "":
			errs = append(errs, fmt.Errorf("%s: must not be empty", key))
		case !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, "?# \t"):
			errs = append(errs, fmt.Errorf("%s: must be a clean absolute URL path like /glassix, got %q", key, p))
		case paths[p] != "":
			errs = append(errs, fmt.Errorf("%s: %q is already used by %s", key, p, paths[p]))
		default:
			paths[p] = key
		}
	}
	if g := cfg.Glassix.Get(); g != nil {
		checkPath("glassix::path", g.Path)
		if g.MaxClockSkew <= 0 {
			errs = append(errs, fmt.Errorf("glassix::max_clock_skew: must be positive, got %s", g.MaxClockSkew))
		}
		for i, ev := range g.ForwardEvents {
			if strings.TrimSpace(ev) == "" {
				errs = append(errs, fmt.Errorf("glassix::forward_events[%d]: must not be empty", i))
			}
		}
	}
	if c := cfg.CTReplay.Get(); c != nil {
		checkPath("ctreplay::path", c.Path)
		if c.DateOrder != DayFirst && c.DateOrder != MonthFirst {
			errs = append(errs, fmt.Errorf("ctreplay::date_order: must be %s or %s, got %q", DayFirst, MonthFirst, c.DateOrder))
		}
		if _, err := vendors.LoadTimezone(c.Timezone); err != nil {
			errs = append(errs, fmt.Errorf("ctreplay::timezone: %w", err))
		}
	}
	if s := cfg.Sippy.Get(); s != nil {
		checkPath("sippy::path", s.Path)
		if _, err := vendors.LoadTimezone(s.Timezone); err != nil {
			errs = append(errs, fmt.Errorf("sippy::timezone: %w", err))
		}
	}
	if cfg.HealthPath != "" {
		checkPath("health_path", cfg.HealthPath)
	}
	return errors.Join(errs...)
}

// confighttpDefaultMaxBody is what confighttp uses for a
// max_request_body_size of 0.
const confighttpDefaultMaxBody = 20 << 20

// effectiveMaxBody is the body size limit confighttp applies for
// max_request_body_size n.
func effectiveMaxBody(n int64) int64 {
	if n <= 0 {
		return confighttpDefaultMaxBody
	}
	return n
}
