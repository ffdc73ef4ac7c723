package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"errors"
	"fmt"

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
	// IndexPath is the index's file (SQLite). Empty: beside the archive's
	// active file, with ".index" appended (audit.jsonl.index).
	IndexPath string `mapstructure:"index_path"`
	// IndexCacheMiB is the index database's page cache per connection
	// (up to 4 connections).
	IndexCacheMiB int `mapstructure:"index_cache_mib"`
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
	if cfg.IndexCacheMiB < 1 {
		errs = append(errs, fmt.Errorf("index_cache_mib: must be at least 1, got %d", cfg.IndexCacheMiB))
	}
	if cfg.MaxPageSize < cfg.DefaultPageSize {
		errs = append(errs, fmt.Errorf("max_page_size: must be at least default_page_size (%d), got %d", cfg.DefaultPageSize, cfg.MaxPageSize))
	}
	return errors.Join(errs...)
}
