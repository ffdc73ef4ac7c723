// Written by hand in the shape cmd/mdatagen generates from ../../metadata.yaml
// (mdatagen is not available to this build); keep the two in step.

// Package metadata holds the auditlog processor's type, scope name,
// stability and internal telemetry.
package metadata // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("auditlog")
	ScopeName = "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"
)

const (
	LogsStability = component.StabilityLevelAlpha
)
