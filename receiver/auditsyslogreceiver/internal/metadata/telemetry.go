package metadata // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/metadata"

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Meter returns the component's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the component's own counters (receiverhelper's
// ObsReport counts accepted and refused log records per transport).
type TelemetryBuilder struct {
	// ReceiverAuditsyslogFlaggedMessages counts messages forwarded as
	// records flagged with audit.parse_error.
	ReceiverAuditsyslogFlaggedMessages metric.Int64Counter
	// ReceiverAuditsyslogDroppedMessages counts messages lost, by reason:
	// kernel (a datagram the kernel dropped because the socket's receive
	// buffer was full), queue_full (a datagram read while the hand-off to
	// the pipeline was full) and permanent (the pipeline refused them for
	// good).
	ReceiverAuditsyslogDroppedMessages metric.Int64Counter
	// ReceiverAuditsyslogRefusedConnections counts connections closed on
	// arrival because max_connections were open.
	ReceiverAuditsyslogRefusedConnections metric.Int64Counter
}

// NewTelemetryBuilder creates the counters.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := Meter(settings)
	var b TelemetryBuilder
	var err, errs error
	b.ReceiverAuditsyslogFlaggedMessages, err = meter.Int64Counter(
		"otelcol_receiver_auditsyslog_flagged_messages",
		metric.WithDescription("Number of syslog messages forwarded as records flagged with audit.parse_error (not JSON, truncated, too long, bad field). [Alpha]"),
		metric.WithUnit("{message}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditsyslogDroppedMessages, err = meter.Int64Counter(
		"otelcol_receiver_auditsyslog_dropped_messages",
		metric.WithDescription("Number of syslog messages lost: reason=kernel (datagrams the kernel dropped, receive buffer full), queue_full (datagrams read while the hand-off to the pipeline was full), permanent (refused by the pipeline for good), shutdown (still refused when shutdown timed out). [Alpha]"),
		metric.WithUnit("{message}"),
	)
	errs = errors.Join(errs, err)
	b.ReceiverAuditsyslogRefusedConnections, err = meter.Int64Counter(
		"otelcol_receiver_auditsyslog_refused_connections",
		metric.WithDescription("Number of connections closed on arrival because max_connections were open. [Alpha]"),
		metric.WithUnit("{connection}"),
	)
	errs = errors.Join(errs, err)
	return &b, errs
}
