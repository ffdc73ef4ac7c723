package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/events"
)

// ctreplayParser turns a CTReplay request body (one object, a JSON array or
// JSON lines) into records. The mapping, the bounds and the problems flagged
// are internal/ctreplay's, the parser the auditlog processor uses for
// CTReplay's log file and syslog lines, so every path makes the same record.
type ctreplayParser struct {
	opts ctreplay.Options
}

// parse appends one record per event in body to out: Timestamp = ts,
// EventName = action, Body = "<action> <params>", attributes = the event's
// fields in their order. A ts or action that is missing or unreadable flags
// the record (audit.parse_error names the field); Timestamp then stays
// unset and consumers use ObservedTimestamp.
func (p ctreplayParser) parse(body []byte, opts events.Options, out plog.LogRecordSlice) events.Result {
	opts.Limits = ctreplay.Limits
	return events.ParseEvents(body, opts, out, func(lr plog.LogRecord) events.FieldProblems {
		ev, err := ctreplay.Read(lr.Attributes(), p.opts)
		ev.Apply(lr)
		var fe *ctreplay.FieldError
		if errors.As(err, &fe) {
			return fe.Problems
		}
		return nil
	})
}
