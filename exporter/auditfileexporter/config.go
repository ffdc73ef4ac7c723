package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// Values of compression and fsync.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"

	FsyncBatch    = "batch"
	FsyncInterval = "interval"
)

// MinHMACKeyLength is the shortest hmac_key accepted, in bytes.
const MinHMACKeyLength = 16

// Config is the auditfile exporter's configuration.
type Config struct {
	// Path is the active file; rotated files are written beside it.
	Path string `mapstructure:"path"`
	// Rotation says when the active file is rotated.
	Rotation RotationConfig `mapstructure:"rotation"`
	// Retention says which rotated files are removed. The zero value keeps
	// everything.
	Retention RetentionConfig `mapstructure:"retention"`
	// Compression of rotated files: gzip or none.
	Compression string `mapstructure:"compression"`
	// Fsync is batch (every batch is durable before it is acknowledged) or
	// interval (fsync every FsyncInterval).
	Fsync         string        `mapstructure:"fsync"`
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// FileMode and DirMode are the permissions of the files and the
	// directory the exporter creates.
	FileMode FileMode `mapstructure:"file_mode"`
	DirMode  FileMode `mapstructure:"dir_mode"`
	// HMACKey, when set, keys the chain: each line also carries an
	// HMAC-SHA256 that only the key holder can produce.
	HMACKey configopaque.String `mapstructure:"hmac_key"`
	// Signing makes the exporter sign checkpoints with an Ed25519 key.
	Signing SigningConfig `mapstructure:"signing"`

	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SigningConfig configures signed checkpoints.
type SigningConfig struct {
	// KeyFile is the Ed25519 private key (PEM PKCS #8, mode 0600). Empty:
	// no signing.
	KeyFile string `mapstructure:"key_file"`
	// CreateKey makes a new key pair at KeyFile (public half beside it,
	// .pub) when the file does not exist.
	CreateKey bool `mapstructure:"create_key"`
	// CheckpointEvery: a checkpoint every this many lines.
	CheckpointEvery int `mapstructure:"checkpoint_every"`
	// CheckpointInterval: a checkpoint at this interval while lines arrive
	// (at most a minute).
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// Anchor hands every checkpoint to the auditself receiver (stream
	// checkpoints) so that a pipeline sends it off the host.
	Anchor bool `mapstructure:"anchor"`
}

// maxCheckpointInterval: at least one checkpoint a minute while events
// arrive.
const maxCheckpointInterval = time.Minute

// RotationConfig says when the active file is rotated.
type RotationConfig struct {
	// MaxMegabytes: rotate before the active file would grow past this many
	// MiB. 0 disables size rotation.
	MaxMegabytes int `mapstructure:"max_megabytes"`
	// Daily: rotate at the first write of each UTC day.
	Daily bool `mapstructure:"daily"`
}

// RetentionConfig says which rotated files are removed.
type RetentionConfig struct {
	// MaxBackups keeps at most this many rotated files; 0 keeps all.
	MaxBackups int `mapstructure:"max_backups"`
	// MaxDays removes rotated files rotated more than this many days ago;
	// 0 keeps them forever.
	MaxDays int `mapstructure:"max_days"`
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path must be set: the archive's active file, e.g. ./data/audit.jsonl"))
	}
	if c.Rotation.MaxMegabytes < 0 {
		errs = append(errs, fmt.Errorf("rotation::max_megabytes must be 0 (no size rotation) or more, got %d", c.Rotation.MaxMegabytes))
	}
	if c.Retention.MaxBackups < 0 {
		errs = append(errs, fmt.Errorf("retention::max_backups must be 0 (keep all) or more, got %d", c.Retention.MaxBackups))
	}
	if c.Retention.MaxDays < 0 {
		errs = append(errs, fmt.Errorf("retention::max_days must be 0 (keep forever) or more, got %d", c.Retention.MaxDays))
	}
	if c.Compression != CompressionGzip && c.Compression != CompressionNone {
		errs = append(errs, fmt.Errorf("compression must be %q or %q, got %q", CompressionGzip, CompressionNone, c.Compression))
	}
	switch c.Fsync {
	case FsyncBatch:
	case FsyncInterval:
		if c.FsyncInterval <= 0 {
			errs = append(errs, fmt.Errorf("fsync_interval must be positive with fsync: interval, got %s", c.FsyncInterval))
		}
	default:
		errs = append(errs, fmt.Errorf("fsync must be %q or %q, got %q", FsyncBatch, FsyncInterval, c.Fsync))
	}
	if err := c.FileMode.check(0o600); err != nil {
		errs = append(errs, fmt.Errorf("file_mode %w", err))
	}
	if err := c.DirMode.check(0o700); err != nil {
		errs = append(errs, fmt.Errorf("dir_mode %w", err))
	}
	if c.Signing.CheckpointEvery < 1 {
		errs = append(errs, fmt.Errorf("signing::checkpoint_every must be at least 1, got %d", c.Signing.CheckpointEvery))
	}
	if c.Signing.CheckpointInterval <= 0 || c.Signing.CheckpointInterval > maxCheckpointInterval {
		errs = append(errs, fmt.Errorf("signing::checkpoint_interval must be more than 0 and at most %s, got %s", maxCheckpointInterval, c.Signing.CheckpointInterval))
	}
	if n := len(c.HMACKey); n > 0 && n < MinHMACKeyLength {
		errs = append(errs, fmt.Errorf("hmac_key must be at least %d bytes when set, got %d", MinHMACKeyLength, n))
	}
	return errors.Join(errs...)
}

// FileMode is a permission. In YAML write it in octal: 0600 (which YAML
// reads as an octal number), 0o600, or the string "0600".
type FileMode uint32

// UnmarshalText reads the quoted form, "0600", as octal.
func (m *FileMode) UnmarshalText(text []byte) error {
	v, err := strconv.ParseUint(string(text), 8, 32)
	if err != nil {
		return fmt.Errorf("%q is not an octal permission such as \"0600\"", text)
	}
	*m = FileMode(v)
	return nil
}

// MarshalText writes the mode in octal.
func (m FileMode) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%04o", uint32(m)), nil }

// check reports a mode that is not a permission (decimal 600 written
// without the leading 0 ends up here) or that denies the owner what the
// exporter needs.
func (m FileMode) check(need fs.FileMode) error {
	if m > 0o777 {
		return fmt.Errorf("%d is not a permission: write it in octal, e.g. 0600", uint32(m))
	}
	if fs.FileMode(m)&need != need {
		return fmt.Errorf("%04o must give the owner at least %04o", uint32(m), uint32(need))
	}
	return nil
}

// writerOptions turns the configuration into the archive writer's options.
func (c *Config) writerOptions() archive.WriterOptions {
	opts := archive.WriterOptions{
		Path:          c.Path,
		MaxSize:       int64(c.Rotation.MaxMegabytes) << 20,
		Daily:         c.Rotation.Daily,
		MaxBackups:    c.Retention.MaxBackups,
		MaxAge:        time.Duration(c.Retention.MaxDays) * 24 * time.Hour,
		Compress:      c.Compression == CompressionGzip,
		Fsync:         archive.FsyncBatch,
		FsyncInterval: c.FsyncInterval,
		FileMode:      fs.FileMode(c.FileMode),
		DirMode:       fs.FileMode(c.DirMode),
		HMACKey:       []byte(c.HMACKey),

		CheckpointLines:    c.Signing.CheckpointEvery,
		CheckpointInterval: c.Signing.CheckpointInterval,
	}
	if c.Fsync == FsyncInterval {
		opts.Fsync = archive.FsyncInterval
	}
	return opts
}
