package auditselfreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver"

import (
	"errors"
	"fmt"

	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
)

// Config is the auditself receiver's configuration.
type Config struct {
	// Stream is what the receiver brings in: checkpoints (the auditfile
	// exporter's signed checkpoints) or viewer (the audit viewer's record
	// of its use).
	Stream string `mapstructure:"stream"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	switch c.Stream {
	case selfaudit.StreamCheckpoints, selfaudit.StreamViewer:
	case "":
		errs = append(errs, fmt.Errorf("stream must be set: %q or %q", selfaudit.StreamCheckpoints, selfaudit.StreamViewer))
	default:
		errs = append(errs, fmt.Errorf("stream must be %q or %q, got %q", selfaudit.StreamCheckpoints, selfaudit.StreamViewer, c.Stream))
	}
	return errors.Join(errs...)
}
