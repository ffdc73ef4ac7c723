package metadata // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"

import (
	"errors"

	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the component's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the exporter's own counters (exporterhelper's
// obsreport counts sent and failed log records).
type TelemetryBuilder struct {
	// ExporterRfc5424RelpUnconfirmed counts records written to a RELP
	// session that broke before the SIEM answered them.
	ExporterRfc5424RelpUnconfirmed metric.Int64Counter
	// ExporterRfc5424RelpRefused counts records the SIEM answered with a
	// RELP status other than 200.
	ExporterRfc5424RelpRefused metric.Int64Counter
}

// NewTelemetryBuilder creates the counters.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := Meter(settings)
	var b TelemetryBuilder
	var err, errs error
	b.ExporterRfc5424RelpUnconfirmed, err = meter.Int64Counter(
		"otelcol_exporter_rfc5424_relp_unconfirmed",
		metric.WithDescription("Number of records written to a RELP session that broke before the SIEM answered them. They are handed back for retry and sent again, so each may reach the SIEM twice: an upper bound of the duplicates. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	b.ExporterRfc5424RelpRefused, err = meter.Int64Counter(
		"otelcol_exporter_rfc5424_relp_refused",
		metric.WithDescription("Number of records the SIEM answered with a RELP status other than 200 (handed back for retry). [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	return &b, errs
}
