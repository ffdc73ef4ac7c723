// Written by hand in the shape cmd/mdatagen generates from ../../metadata.yaml
// (mdatagen is not available to this build); keep the two in step.

package metadata // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"

import (
	"errors"

	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the meter the processor's telemetry is recorded with.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the processor's instruments.
type TelemetryBuilder struct {
	meter metric.Meter
	// ProcessorAuditlogDuplicatesDropped counts records dropped because
	// their event id was already seen within the dedup window.
	ProcessorAuditlogDuplicatesDropped metric.Int64Counter
	// ProcessorAuditlogParseErrors counts records flagged with
	// audit.parse_error by the processor.
	ProcessorAuditlogParseErrors metric.Int64Counter
	// ProcessorAuditlogSharedDedupFallbacks counts batches whose event ids
	// could not be checked against (or recorded in) the shared dedup store.
	ProcessorAuditlogSharedDedupFallbacks metric.Int64Counter
}

// NewTelemetryBuilder creates the processor's instruments.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{meter: Meter(settings)}
	var err, errs error
	builder.ProcessorAuditlogDuplicatesDropped, err = builder.meter.Int64Counter(
		"otelcol_processor_auditlog_duplicates_dropped",
		metric.WithDescription("Number of log records dropped because their audit.event_id was already seen within the dedup window. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorAuditlogParseErrors, err = builder.meter.Int64Counter(
		"otelcol_processor_auditlog_parse_errors",
		metric.WithDescription("Number of log records the processor flagged with audit.parse_error and passed on. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorAuditlogSharedDedupFallbacks, err = builder.meter.Int64Counter(
		"otelcol_processor_auditlog_shared_dedup_fallbacks",
		metric.WithDescription("Number of batches deduplicated against the local window only, because the shared dedup store could not be reached (operation=check) or did not record their event ids (operation=record). [Alpha]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
