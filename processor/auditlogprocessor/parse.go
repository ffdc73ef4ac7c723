package auditlogprocessor // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/eventid"
)

// errNoText says why a text record has nothing to parse.
var errNoText = errors.New("no CTReplay JSON text: the record has neither a string message attribute nor a string body")

// processTextResource handles a resource without audit.source (filelog,
// syslog, tcplog, udplog receivers): it decides each record's vendor, parses
// CTReplay text into the record contract, runs the other steps on the
// records of a known vendor, and labels the resource with audit.source and
// service.name. A resource whose records turn out to be of different
// vendors (or partly of none) is split, one resource per vendor, since the
// labels are per resource; records of no known vendor stay where they were,
// untouched.
func (p *auditLogProcessor) processTextResource(ctx context.Context, b *batch, rls plog.ResourceLogsSlice, rl plog.ResourceLogs) {
	sls := rl.ScopeLogs()
	sources := make([][]string, sls.Len())
	found := map[string]bool{}
	unknown := false
	for j := 0; j < sls.Len(); j++ {
		lrs := sls.At(j).LogRecords()
		var kept []string
		lrs.RemoveIf(func(r plog.LogRecord) bool {
			s, problems, unparsed := p.parseText(r)
			if s != "" && !p.processRecord(ctx, b, s, r, problems, unparsed) {
				return true // a duplicate
			}
			kept = append(kept, s)
			if s == "" {
				unknown = true
			} else {
				found[s] = true
			}
			return false
		})
		sources[j] = kept
	}
	switch {
	case len(found) == 0:
	case len(found) == 1 && !unknown:
		for s := range found {
			label(rl.Resource(), s)
		}
	default:
		split(rls, rl, sources)
	}
}

// label marks a resource as holding records of source.
func label(res pcommon.Resource, source string) {
	attrs := res.Attributes()
	attrs.PutStr(auditrecord.AttrSource, source)
	if _, ok := attrs.Get(auditrecord.AttrServiceName); !ok {
		attrs.PutStr(auditrecord.AttrServiceName, source)
	}
}

// split moves the records of rl whose source is known into new resources,
// one per source, copying rl's resource and scopes.
func split(rls plog.ResourceLogsSlice, rl plog.ResourceLogs, sources [][]string) {
	bySource := map[string]plog.ResourceLogs{}
	sls := rl.ScopeLogs()
	for j := 0; j < sls.Len(); j++ {
		sl := sls.At(j)
		scopes := map[string]plog.ScopeLogs{}
		lrs := sl.LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			s := sources[j][k]
			if s == "" {
				continue
			}
			dst, ok := scopes[s]
			if !ok {
				nrl, ok := bySource[s]
				if !ok {
					nrl = rls.AppendEmpty()
					rl.Resource().CopyTo(nrl.Resource())
					nrl.SetSchemaUrl(rl.SchemaUrl())
					label(nrl.Resource(), s)
					bySource[s] = nrl
				}
				dst = nrl.ScopeLogs().AppendEmpty()
				sl.Scope().CopyTo(dst.Scope())
				dst.SetSchemaUrl(sl.SchemaUrl())
				scopes[s] = dst
			}
			lrs.At(k).MoveTo(dst.LogRecords().AppendEmpty())
		}
		k := 0
		lrs.RemoveIf(func(plog.LogRecord) bool {
			moved := sources[j][k] != ""
			k++
			return moved
		})
	}
	sls.RemoveIf(func(sl plog.ScopeLogs) bool { return sl.LogRecords().Len() == 0 })
}

// parseText decides the vendor of a record without audit.source and, for
// CTReplay, parses its text into the record contract. It returns the vendor
// ("" when the record is of none the processor knows), the problems to flag
// and whether the text could not be parsed at all.
func (p *auditLogProcessor) parseText(r plog.LogRecord) (source string, problems []string, unparsed bool) {
	text, fromMessage, ok := rawText(r)
	source = p.cfg.Source
	if source == "" {
		if !ok || !ctreplay.Looks(text) {
			return "", nil, false
		}
		source = auditrecord.SourceCTReplay
	}
	if source != auditrecord.SourceCTReplay {
		// Glassix and Sippy have no text form here: their records are taken
		// as already carrying the vendor's fields as attributes.
		return source, nil, false
	}
	if !ok {
		return source, []string{errNoText.Error()}, true
	}
	vendor := pcommon.NewMap()
	ev, err := ctreplay.Parse([]byte(text), vendor, p.ctOpts)
	var syn *ctreplay.SyntaxError
	if errors.As(err, &syn) {
		// The record keeps the raw text (its Body, or the syslog message
		// attribute) as evidence.
		return source, []string{err.Error()}, true
	}
	ev.Apply(r)
	// The id hashes the vendor's fields only, so the same event read from
	// CTReplay's file, its syslog output or its webhook has the same id.
	r.Attributes().PutStr(auditrecord.AttrEventID, eventid.Of(source, r, vendor))
	mergeTransport(vendor, r.Attributes(), fromMessage)
	vendor.MoveTo(r.Attributes())
	var fe *ctreplay.FieldError
	if errors.As(err, &fe) {
		// ts and action, in the words the auditwebhook receiver uses;
		// normalization adds the fields it needs without repeating these.
		problems = fe.Problems
	}
	return source, problems, false
}

// rawText returns the text of a record that arrived as text: the syslog
// message attribute, else the Body. ok is false when neither is a string.
func rawText(r plog.LogRecord) (text string, fromMessage, ok bool) {
	if v, found := r.Attributes().Get(MessageAttribute); found && v.Type() == pcommon.ValueTypeStr {
		return v.Str(), true, true
	}
	if r.Body().Type() == pcommon.ValueTypeStr {
		return r.Body().Str(), false, true
	}
	return "", false, false
}

// mergeTransport appends the receiver's own attributes (log.file.name,
// syslog hostname, appname, ...) after the vendor's fields; the consumed
// message attribute is left out, and on a name clash the vendor's field
// wins.
func mergeTransport(vendor, transport pcommon.Map, dropMessage bool) {
	transport.Range(func(k string, v pcommon.Value) bool {
		if dropMessage && k == MessageAttribute {
			return true
		}
		if _, clash := vendor.Get(k); !clash {
			v.CopyTo(vendor.PutEmpty(k))
		}
		return true
	})
}
