package metadata // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/metadata"

import (
	"errors"

	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the component's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the component's own instruments (receiverhelper's
// ObsReport counts accepted and refused log records).
type TelemetryBuilder struct {
	// ReceiverAuditpullAPIErrors counts failed API calls by source and
	// kind (http_status, unauthorized, xmlrpc_fault, malformed, result,
	// transport, storage), with fault_code for XML-RPC faults and
	// http_status for HTTP errors.
	ReceiverAuditpullAPIErrors metric.Int64Counter
	// ReceiverAuditpullPages counts pages (Sippy) or getevents answers
	// (Glassix) read.
	ReceiverAuditpullPages metric.Int64Counter
	// ReceiverAuditpullDuplicates counts records read again in an
	// overlapping window (Sippy) or events handed out again after their
	// records were delivered (Glassix), and not delivered twice.
	ReceiverAuditpullDuplicates metric.Int64Counter
	// ReceiverAuditpullCheckpoint is the Sippy checkpoint: the Unix time
	// up to which every record was delivered.
	ReceiverAuditpullCheckpoint metric.Int64Gauge
}

// NewTelemetryBuilder creates the instruments.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := Meter(settings)
	var b TelemetryBuilder
	var err, errs error
	b.ReceiverAuditpullAPIErrors, err = meter.Int64Counter(
		"otelcol_receiver_auditpull_api_errors",
		metric.WithDescription("Number of failed calls to a vendor's API, by source and kind. [Alpha]"),
		metric.WithUnit("{call}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditpullPages, err = meter.Int64Counter(
		"otelcol_receiver_auditpull_pages",
		metric.WithDescription("Number of pages (Sippy) or getevents answers (Glassix) read. [Alpha]"),
		metric.WithUnit("{page}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditpullDuplicates, err = meter.Int64Counter(
		"otelcol_receiver_auditpull_duplicates",
		metric.WithDescription("Number of records or events read again and not delivered twice. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditpullCheckpoint, err = meter.Int64Gauge(
		"otelcol_receiver_auditpull_checkpoint",
		metric.WithDescription("Unix time up to which every Sippy record was delivered. [Alpha]"),
		metric.WithUnit("s"),
	)
	errs = errors.Join(errs, err)
	return &b, errs
}
