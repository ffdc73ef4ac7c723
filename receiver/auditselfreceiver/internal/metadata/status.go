// Package metadata holds the component's type, scope name and stability. It
// is written by hand in the shape mdatagen generates from ../../metadata.yaml
// (mdatagen is not available to this project): keep the two in step.
package metadata // import "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

// Type is the component type used in collector configuration.
var Type = component.MustNewType("auditself")

// ScopeName is the instrumentation scope of the component's telemetry.
const ScopeName = "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver"

// LogsStability is the stability of the logs signal.
const LogsStability = component.StabilityLevelAlpha
