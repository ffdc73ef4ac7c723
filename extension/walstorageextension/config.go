package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
)

// Config is the walstorage extension's configuration.
type Config struct {
	// Directory holds the database (its write-ahead log, tables and
	// manifest). One extension, one directory.
	Directory string `mapstructure:"directory"`
	// CreateDirectory creates Directory (mode 0750) when it is missing.
	CreateDirectory bool `mapstructure:"create_directory"`
	// Sync makes every write that adds data durable (fsynced) before it is
	// acknowledged. Off: writes reach the kernel within milliseconds and
	// survive a crash of the collector, not of the machine.
	Sync bool `mapstructure:"sync"`
	// MemTableMiB is the size of each in-memory table before it is written
	// out as a table file; up to four can wait to be written.
	MemTableMiB int `mapstructure:"memtable_mib"`
	// CacheMiB is the block cache for reading table files.
	CacheMiB int `mapstructure:"cache_mib"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration, reporting every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Directory == "" {
		errs = append(errs, errors.New("directory: must be set"))
	}
	if cfg.MemTableMiB < 1 || cfg.MemTableMiB > 1024 {
		errs = append(errs, fmt.Errorf("memtable_mib: must be 1 to 1024, got %d", cfg.MemTableMiB))
	}
	if cfg.CacheMiB < 0 {
		errs = append(errs, fmt.Errorf("cache_mib: must not be negative, got %d", cfg.CacheMiB))
	}
	return errors.Join(errs...)
}
