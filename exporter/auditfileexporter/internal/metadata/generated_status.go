// Code written by hand in the shape cmd/mdatagen generates (mdatagen is not
// available for this build).

// Package metadata holds the auditfile exporter's component type, scope name
// and stability level.
package metadata // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the exporter's component type, as written in the collector
	// configuration.
	Type = component.MustNewType("auditfile")
	// ScopeName is the instrumentation scope of the exporter's own telemetry.
	ScopeName = "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"
)

const (
	// LogsStability is the stability level of the logs signal.
	LogsStability = component.StabilityLevelAlpha
)
