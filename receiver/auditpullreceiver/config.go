package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"time"
	// Time zone names must resolve on hosts without /usr/share/zoneinfo.
	_ "time/tzdata"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/sippyapi"
)

// Config is the receiver's configuration: one block per vendor API. Each
// block present is polled; configure one per receiver instance
// (auditpull/sippy, auditpull/glassix) so each has its own pipeline.
type Config struct {
	Sippy   configoptional.Optional[SippyConfig]   `mapstructure:"sippy"`
	Glassix configoptional.Optional[GlassixConfig] `mapstructure:"glassix"`
}

// SippyConfig polls a Sippy Softswitch's getAuditLogs. The HTTP client
// settings (endpoint, tls, timeout, proxy_url, headers, ...) are
// confighttp's, in the block itself.
type SippyConfig struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	// Username and Password answer the switch's HTTP Digest challenge:
	// the web login and its API password. Empty username: trusted mode
	// (the collector's address is listed on the switch).
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`

	// StartAt is where the first start begins to read (RFC 3339: a YAML
	// timestamp or string). Unset: at the first start's time, nothing
	// older. After that the checkpoint decides.
	StartAt time.Time `mapstructure:"start_at"`

	// Storage names the storage extension (file_storage) that keeps the
	// checkpoint. Unset: in memory only, so every start reads again from
	// start_at (nothing is lost; the processor's dedup drops the repeats).
	Storage *component.ID `mapstructure:"storage"`

	// PollInterval is the wait between reads once caught up with now-lag.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// Lag keeps each window's end this far behind now, for records the
	// switch writes a little after their date.
	Lag time.Duration `mapstructure:"lag"`
	// Overlap re-reads this much before each window's start; records
	// already delivered are dropped.
	Overlap time.Duration `mapstructure:"overlap"`
	// Window is the longest time span one window asks for.
	Window time.Duration `mapstructure:"window"`
	// PageSize is getAuditLogs' limit (at most 100).
	PageSize int `mapstructure:"page_size"`

	// Fields names the switch's record members that hold the viewer's
	// columns, when they differ from the defaults.
	Fields SippyFields `mapstructure:"fields"`

	// Timezone is the zone of record dates written without one.
	Timezone string `mapstructure:"timezone"`

	// RetryOnFailure paces the retries after a failed call or a refusal
	// by the pipeline. max_elapsed_time 0 retries for ever (a window is
	// never skipped).
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// SippyFields maps the record contract's Sippy fields to the names the
// switch sends them under.
type SippyFields struct {
	Resource string `mapstructure:"resource"`
	Action   string `mapstructure:"action"`
	ActionBy string `mapstructure:"action_by"`
	Date     string `mapstructure:"date"`
	UserIP   string `mapstructure:"user_ip"`
	// ID is the member holding the record's own id. When a record has it,
	// the id is the record's audit.event_id and identifies it across
	// overlapping windows; otherwise its content does.
	ID string `mapstructure:"id"`
}

// GlassixConfig pulls a Glassix workspace's queued webhook events. The HTTP
// client settings are confighttp's; endpoint is the API base,
// https://<workspace>.glassix.com/api/v1.2.
type GlassixConfig struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	APIKey    configopaque.String `mapstructure:"api_key"`
	APISecret configopaque.String `mapstructure:"api_secret"`
	UserName  string              `mapstructure:"user_name"`

	// PollInterval is the wait between reads once the queue is empty.
	PollInterval time.Duration `mapstructure:"poll_interval"`

	// ForwardEvents lists _event values other than AUDIT_LOGS to forward
	// ("*": all), as the auditwebhook receiver's glassix::forward_events.
	ForwardEvents []string `mapstructure:"forward_events"`

	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	s, g := cfg.Sippy.Get(), cfg.Glassix.Get()
	if s == nil && g == nil {
		errs = append(errs, errors.New("configure sippy or glassix: the receiver has nothing to pull"))
	}
	if s != nil {
		errs = append(errs, s.validate())
	}
	if g != nil {
		errs = append(errs, g.validate())
	}
	return errors.Join(errs...)
}

func (s *SippyConfig) validate() error {
	var errs []error
	if err := validURL(s.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("sippy::endpoint: %w", err))
	}
	if s.Username == "" && s.Password != "" {
		errs = append(errs, errors.New("sippy::password is set but sippy::username is empty"))
	}
	if s.PollInterval <= 0 {
		errs = append(errs, errors.New("sippy::poll_interval must be positive"))
	}
	if s.Lag < 0 {
		errs = append(errs, errors.New("sippy::lag must not be negative"))
	}
	if s.Overlap < 0 {
		errs = append(errs, errors.New("sippy::overlap must not be negative"))
	}
	if s.Window < time.Second {
		errs = append(errs, errors.New("sippy::window must be at least 1s"))
	}
	if s.PageSize < 1 || s.PageSize > sippyapi.MaxLimit {
		errs = append(errs, fmt.Errorf("sippy::page_size must be between 1 and %d (getAuditLogs' largest limit)", sippyapi.MaxLimit))
	}
	if s.RetryOnFailure.MaxElapsedTime != 0 {
		errs = append(errs, errors.New("sippy::retry_on_failure::max_elapsed_time must be 0: the receiver never gives up on a window"))
	}
	for key, v := range map[string]string{"resource": s.Fields.Resource, "action": s.Fields.Action, "action_by": s.Fields.ActionBy, "date": s.Fields.Date, "user_ip": s.Fields.UserIP} {
		if v == "" {
			errs = append(errs, fmt.Errorf("sippy::fields::%s must not be empty", key))
		}
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("sippy::timezone: %w", err))
	}
	return errors.Join(errs...)
}

func (g *GlassixConfig) validate() error {
	var errs []error
	if err := validURL(g.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("glassix::endpoint: %w", err))
	}
	if g.PollInterval <= 0 {
		errs = append(errs, errors.New("glassix::poll_interval must be positive"))
	}
	if g.RetryOnFailure.MaxElapsedTime != 0 {
		errs = append(errs, errors.New("glassix::retry_on_failure::max_elapsed_time must be 0: queued events are never given up"))
	}
	return errors.Join(errs...)
}

// validURL accepts an empty endpoint (checked at start, so that a shipped
// configuration validates before its environment is set) or an http(s)
// URL.
func validURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}
