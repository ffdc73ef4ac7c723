package ctreplay

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// Parser turns a CTReplay request body (one object, a JSON array or JSON
// lines) into records. The mapping, the bounds and the problems flagged are
// those of Read, which the auditlog processor uses (through Parse) for
// CTReplay's log file and syslog lines, so every path makes the same record.
type Parser struct {
	Options Options
}

// Parse appends one record per event in body to out: Timestamp = ts,
// EventName = action, Body = "<action> <params>", attributes = the event's
// fields in their order. A ts or action that is missing or unreadable flags
// the record (audit.parse_error names the field); Timestamp then stays
// unset and consumers use ObservedTimestamp.
func (p Parser) Parse(body []byte, opts vendors.Options, out plog.LogRecordSlice) vendors.Result {
	opts.Limits = Limits
	return vendors.ParseEvents(body, opts, out, func(lr plog.LogRecord) vendors.FieldProblems {
		ev, err := Read(lr.Attributes(), p.Options)
		ev.Apply(lr)
		var fe *FieldError
		if errors.As(err, &fe) {
			return fe.Problems
		}
		return nil
	})
}
