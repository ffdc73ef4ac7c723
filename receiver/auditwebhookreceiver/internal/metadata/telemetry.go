package metadata // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"

import (
	"errors"

	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the component's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the component's own counters (receiverhelper's
// ObsReport counts accepted and refused log records).
type TelemetryBuilder struct {
	// ReceiverAuditwebhookBadSignatures counts requests refused with 401.
	ReceiverAuditwebhookBadSignatures metric.Int64Counter
	// ReceiverAuditwebhookUnparsedEvents counts events flagged with
	// audit.parse_error (forwarded=true) or dropped (forwarded=false).
	ReceiverAuditwebhookUnparsedEvents metric.Int64Counter
	// ReceiverAuditwebhookSkippedEvents counts Glassix changes that are not
	// audit events and were not forwarded.
	ReceiverAuditwebhookSkippedEvents metric.Int64Counter
	// ReceiverAuditwebhookBusyRefusals counts requests answered 503
	// because max_in_flight_bytes had no room for their body in time.
	ReceiverAuditwebhookBusyRefusals metric.Int64Counter
}

// NewTelemetryBuilder creates the counters.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := Meter(settings)
	var b TelemetryBuilder
	var err, errs error
	b.ReceiverAuditwebhookBadSignatures, err = meter.Int64Counter(
		"otelcol_receiver_auditwebhook_bad_signatures",
		metric.WithDescription("Number of requests refused because their signature was missing or wrong. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditwebhookUnparsedEvents, err = meter.Int64Counter(
		"otelcol_receiver_auditwebhook_unparsed_events",
		metric.WithDescription("Number of events that could not be fully parsed: flagged with audit.parse_error (forwarded=true) or dropped (forwarded=false). [Alpha]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditwebhookSkippedEvents, err = meter.Int64Counter(
		"otelcol_receiver_auditwebhook_skipped_events",
		metric.WithDescription("Number of Glassix changes skipped because their _event is not forwarded. [Alpha]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditwebhookBusyRefusals, err = meter.Int64Counter(
		"otelcol_receiver_auditwebhook_busy_refusals",
		metric.WithDescription("Number of requests answered 503 because the request bodies in flight took max_in_flight_bytes until accept_timeout. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	return &b, errs
}
