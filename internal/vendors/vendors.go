// Package vendors is the one door between the components and what the
// project knows about each vendor. Every vendor has a package below this one
// (glassix, ctreplay, sippy) holding its wire formats and their parsing, its
// field names, its mapping to the record contract (internal/auditrecord) and
// to the normalized audit.* fields, its default severity rules and its
// event-id rule. Components reach a vendor by its audit.source value through
// internal/vendors/registry and this package's Vendor interface; the
// receivers also call a vendor package's webhook parser directly, since each
// vendor's wire format has settings of its own.
//
// This package also holds what the vendor parsers share (parse.go): their
// options, the account of one request's events, and the record written for
// an event that could not be parsed.
//
// Adding a vendor is one new package implementing Vendor plus one line in
// registry.go; ARCHITECTURE.md says which components then need a route or a
// config block.
package vendors // import "github.com/otelcol-audit/otelcol-audit/internal/vendors"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

// Vendor is what the components need to know about one vendor, once its
// events are records of the record contract.
type Vendor interface {
	// Source is the vendor's audit.source value (auditrecord.Source*).
	Source() string
	// Normalize adds the normalized audit.* fields (and the vendor's own
	// derived fields) to r, whose vendor attributes f reads. It returns
	// what is wrong with the record (missing or unreadable fields), for
	// audit.parse_error; the fields that could be derived are added
	// regardless.
	Normalize(r plog.LogRecord, f Fields) []string
	// DefaultLevel is the built-in severity of a normalized record whose
	// action (its EventName, or audit.action when it came without one) is
	// action. The processor applies the users' rules before it, and raises
	// a record flagged with audit.parse_error to at least warning after it.
	DefaultLevel(r plog.LogRecord, action string) severity.Level
	// EventID returns the vendor's own id of the event from its (not yet
	// flattened) attributes, or "" when the vendor has none and the
	// processor is to hash the content.
	EventID(attrs pcommon.Map) string
	// ActionHints lists the vendor's action codes with what they mean, for
	// the viewer's hints; nil when the vendor's actions speak for
	// themselves.
	ActionHints() []ActionHint
	// SIEM names the vendor and product as SIEM formats (CEF, LEEF)
	// carry them.
	SIEM() SIEMNames
}

// SIEMNames are how a vendor appears in CEF and LEEF headers, and what its
// normalized target is.
type SIEMNames struct {
	// Vendor and Product are CEF's Device Vendor and Device Product, and
	// LEEF's Vendor and Product.
	Vendor, Product string
	// TargetIsUser says audit.target names a user account (CEF duser);
	// otherwise it names an object or a resource.
	TargetIsUser bool
}

// ActionHint is one action code, its description and the syntax of its
// resource.
type ActionHint struct {
	Code, Description, Resource string
}

// Fields reads a record's flattened vendor fields and writes normalized
// ones.
type Fields struct {
	Attrs pcommon.Map
	// Sep is the flattening separator: nested field b of a is "a<Sep>b".
	Sep string
}

// Str returns the field at path (joined with the separator, as flattening
// named it) as a string; "" when absent or null.
func (f Fields) Str(path ...string) string {
	val, ok := f.Attrs.Get(strings.Join(path, f.Sep))
	if !ok {
		return ""
	}
	if val.Type() == pcommon.ValueTypeStr {
		return val.Str()
	}
	return val.AsString()
}

// First returns the first non-empty field among names.
func (f Fields) First(names ...string) string {
	for _, n := range names {
		if s := f.Str(n); s != "" {
			return s
		}
	}
	return ""
}

// Put sets a normalized field, leaving it out when the value is unknown.
func (f Fields) Put(key, value string) {
	if value != "" {
		f.Attrs.PutStr(key, value)
	}
}

// Missing returns the problem naming the absent fields, if any.
func (f Fields) Missing(fields ...string) []string {
	var absent []string
	for _, name := range fields {
		if f.Str(name) == "" {
			absent = append(absent, name)
		}
	}
	if len(absent) == 0 {
		return nil
	}
	return []string{"missing field(s) " + strings.Join(absent, ", ")}
}
