package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
)

// minHMACKey is the exporter's minimum key length; a shorter key cannot be
// the one the archive was written with.
const minHMACKey = 16

// Config is the extension's configuration. The HTTP server settings
// (endpoint, tls, auth, timeouts, ...) are confighttp's, at the top level.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`

	// Path is the archive: the auditfile exporter's `path` (its active
	// file) or the directory holding it.
	Path string `mapstructure:"path"`
	// HMACKey, when set, makes the viewer check every line's HMAC with the
	// exporter's key, so a line rewritten and re-hashed without the key is
	// marked.
	HMACKey configopaque.String `mapstructure:"hmac_key"`
	// DefaultPageSize is the rows per page when a request names none.
	DefaultPageSize int `mapstructure:"default_page_size"`
	// MaxPageSize bounds the rows per page a request may ask for.
	MaxPageSize int `mapstructure:"max_page_size"`
	// IndexMemoryLimitMiB bounds the index's memory: the active file and
	// the newest rotated files that fit are searchable, older ones are left
	// out and reported. 0: no limit.
	IndexMemoryLimitMiB int `mapstructure:"index_memory_limit_mib"`
	// PublicKeys are the archive's signing public keys (PEM files): the
	// viewer's integrity check then covers the signed checkpoints.
	PublicKeys []string `mapstructure:"public_keys"`
	// VerifyInterval is how often the viewer checks the whole archive
	// (chain, head, checkpoints) in the background; 0: never.
	VerifyInterval time.Duration `mapstructure:"verify_interval"`
	// LoginThrottle bounds failed logins per client address.
	LoginThrottle LoginThrottleConfig `mapstructure:"login_throttle"`
}

// LoginThrottleConfig: after MaxFailures failed logins from one client
// address within Window, its logins are refused (429) until the oldest of
// them is Window old.
type LoginThrottleConfig struct {
	MaxFailures int           `mapstructure:"max_failures"`
	Window      time.Duration `mapstructure:"window"`
}

// Validate reports every problem of the configuration at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty"))
	}
	if cfg.Path == "" {
		errs = append(errs, errors.New("path: must name the auditfile exporter's path or its directory"))
	}
	if n := len(cfg.HMACKey); n > 0 && n < minHMACKey {
		errs = append(errs, fmt.Errorf("hmac_key: must be at least %d bytes, as the exporter's, got %d", minHMACKey, n))
	}
	if cfg.DefaultPageSize < 1 {
		errs = append(errs, fmt.Errorf("default_page_size: must be at least 1, got %d", cfg.DefaultPageSize))
	}
	if cfg.IndexMemoryLimitMiB < 0 {
		errs = append(errs, fmt.Errorf("index_memory_limit_mib: must not be negative (0: no limit), got %d", cfg.IndexMemoryLimitMiB))
	}
	if cfg.VerifyInterval < 0 {
		errs = append(errs, fmt.Errorf("verify_interval: must not be negative (0: never), got %s", cfg.VerifyInterval))
	}
	if cfg.LoginThrottle.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("login_throttle::max_failures: must be at least 1, got %d", cfg.LoginThrottle.MaxFailures))
	}
	if cfg.LoginThrottle.Window <= 0 {
		errs = append(errs, fmt.Errorf("login_throttle::window: must be positive, got %s", cfg.LoginThrottle.Window))
	}
	if cfg.MaxPageSize < cfg.DefaultPageSize {
		errs = append(errs, fmt.Errorf("max_page_size: must be at least default_page_size (%d), got %d", cfg.DefaultPageSize, cfg.MaxPageSize))
	}
	return errors.Join(errs...)
}
