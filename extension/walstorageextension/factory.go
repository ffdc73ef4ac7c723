package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-audit/otelcol-audit/extension/walstorageextension/internal/metadata"
)

// Defaults documented in README.md.
const (
	defaultMemTableMiB = 4
	defaultCacheMiB    = 8
)

// NewFactory returns the factory of the walstorage extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		Sync:        true,
		MemTableMiB: defaultMemTableMiB,
		CacheMiB:    defaultCacheMiB,
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newWALStorage(cfg.(*Config), set.Logger), nil
}
