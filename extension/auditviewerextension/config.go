package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
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
	// Index chooses where the index lives: by default an SQLite file
	// beside the archive (index_path); index.postgres puts it in a
	// PostgreSQL database several collectors share.
	Index IndexConfig `mapstructure:"index"`
	// PublicKeys are the archive's signing public keys (PEM files): the
	// viewer's integrity check then covers the signed checkpoints.
	PublicKeys []string `mapstructure:"public_keys"`
	// VerifyInterval is how often the viewer checks the whole archive
	// (chain, head, checkpoints) in the background; 0: never.
	VerifyInterval time.Duration `mapstructure:"verify_interval"`
	// LoginThrottle bounds failed logins per client address.
	LoginThrottle LoginThrottleConfig `mapstructure:"login_throttle"`
}

// IndexConfig chooses the index's database.
type IndexConfig struct {
	// Postgres, when set, keeps the index in PostgreSQL, shared by
	// collectors: this one indexes its own archive into it under
	// CollectorName, and its page shows every collector's events.
	Postgres configoptional.Optional[PostgresIndexConfig] `mapstructure:"postgres"`
}

// PostgresIndexConfig is the shared index in PostgreSQL.
type PostgresIndexConfig struct {
	// DSN is the connection string (postgres://user:pass@host:5432/db?
	// sslmode=verify-full, or key=value pairs); PG* environment variables
	// fill what it leaves out (PGPASSWORD).
	DSN configopaque.String `mapstructure:"dsn"`
	// CollectorName names this collector in the shared index: unique per
	// collector, the same across its restarts (its rows are its archive's).
	CollectorName string `mapstructure:"collector_name"`
	// RefreshInterval is how often the index reads what was appended to
	// the archive.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// MaxRetryInterval bounds the back-off between attempts while the
	// database cannot be reached (doubling from refresh_interval).
	MaxRetryInterval time.Duration `mapstructure:"max_retry_interval"`
	// ConnectTimeout bounds a connection attempt (when the DSN sets no
	// connect_timeout): queries fail quickly rather than hang.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// MaxConns bounds the connections to the database.
	MaxConns int `mapstructure:"max_conns"`
}

// collectorName is what a collector's name may hold: it is shown, and
// written collector/file in line references.
var collectorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (p *PostgresIndexConfig) validate(cfg *Config) []error {
	var errs []error
	if p.DSN == "" {
		errs = append(errs, errors.New("index.postgres.dsn: must not be empty"))
	} else if _, err := pgx.ParseConfig(string(p.DSN)); err != nil {
		// pgx's message may quote the DSN: say only that it is malformed.
		errs = append(errs, errors.New("index.postgres.dsn: not a PostgreSQL connection string (postgres://user@host:5432/db or key=value pairs)"))
	}
	if !collectorName.MatchString(p.CollectorName) {
		errs = append(errs, fmt.Errorf("index.postgres.collector_name: must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", p.CollectorName))
	}
	if p.RefreshInterval <= 0 {
		errs = append(errs, fmt.Errorf("index.postgres.refresh_interval: must be positive, got %s", p.RefreshInterval))
	}
	if p.MaxRetryInterval < p.RefreshInterval {
		errs = append(errs, fmt.Errorf("index.postgres.max_retry_interval: must be at least refresh_interval (%s), got %s", p.RefreshInterval, p.MaxRetryInterval))
	}
	if p.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("index.postgres.connect_timeout: must be positive, got %s", p.ConnectTimeout))
	}
	if p.MaxConns < 2 {
		errs = append(errs, fmt.Errorf("index.postgres.max_conns: must be at least 2 (one writer, one reader), got %d", p.MaxConns))
	}
	if cfg.IndexPath != "" {
		errs = append(errs, errors.New("index_path: names an SQLite file; with index.postgres the index is in PostgreSQL: set one of them"))
	}
	return errs
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
	if cfg.IndexCacheMiB < 1 {
		errs = append(errs, fmt.Errorf("index_cache_mib: must be at least 1, got %d", cfg.IndexCacheMiB))
	}
	if cfg.Index.Postgres.HasValue() {
		errs = append(errs, cfg.Index.Postgres.Get().validate(cfg)...)
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
