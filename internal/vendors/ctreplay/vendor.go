package ctreplay

import (
	"cmp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// Vendor is CTReplay for the components (vendors.Vendor).
type Vendor struct{}

var _ vendors.Vendor = Vendor{}

// Source is "ctreplay".
func (Vendor) Source() string { return auditrecord.SourceCTReplay }

// EventID is "": CTReplay events carry no id, the processor hashes them.
func (Vendor) EventID(pcommon.Map) string { return "" }

// ActionHints is nil: CTReplay's actions are words ("GET ALL Profile").
func (Vendor) ActionHints() []vendors.ActionHint { return nil }

// CTReplay-specific fields added by the processor.
const (
	AttrVerb   = "ctreplay.verb"
	AttrObject = "ctreplay.object"
)

// Verbs are the verbs of seed 001's action list; "GET ALL" is tried before
// "GET".
var Verbs = []string{"GET ALL", "GET", "DELETE", "SAVE", "SET", "SEARCH", "DOWNLOAD", "PLAY"}

// SplitAction splits "GET ALL Profile" into its verb and object. An unknown
// verb is the first word.
func SplitAction(action string) (verb, object string) {
	for _, vb := range Verbs {
		if rest, ok := strings.CutPrefix(action, vb); ok && (rest == "" || rest[0] == ' ') {
			return vb, strings.TrimSpace(rest)
		}
	}
	verb, object, _ = strings.Cut(action, " ")
	return verb, strings.TrimSpace(object)
}

// Security reports whether a CTReplay action is security-relevant: a
// deletion, or downloading or playing a recording.
func Security(verb, object string) bool {
	return verb == "DELETE" || (object == "Recording" && (verb == "DOWNLOAD" || verb == "PLAY"))
}

// WhoFields are the fields normalization needs besides the record
// contract's (RequiredFields): who acted and from where.
var WhoFields = []string{FieldUserID, FieldIPAddress}

// Normalize adds the audit.* fields and ctreplay.verb/object.
func (Vendor) Normalize(r plog.LogRecord, f vendors.Fields) []string {
	// ts and action in the parser's words, so a record the receiver or the
	// parse step already flagged is not flagged again in other words.
	problems := CheckRequired(f.Attrs)
	problems = append(problems, f.Missing(WhoFields...)...)
	action := cmp.Or(r.EventName(), f.Str(FieldAction))
	verb, object := SplitAction(action)
	user := f.Str(FieldUserID)
	f.Put(auditrecord.AttrActor, user)
	f.Put(auditrecord.AttrActorID, user)
	target := object
	if params := f.Str(FieldParams); params != "" {
		target = strings.TrimSpace(object + " " + params)
	}
	f.Put(auditrecord.AttrTarget, target)
	f.Put(auditrecord.AttrClientAddress, f.Str(FieldIPAddress))
	f.Put(auditrecord.AttrAction, action)
	outcome := auditrecord.OutcomeSuccess
	if l, err := severity.Parse(f.Str(FieldLevel)); err == nil && l <= severity.Err {
		outcome = auditrecord.OutcomeFailure
	}
	f.Put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if Security(verb, object) {
		category = auditrecord.CategorySecurity
	}
	f.Put(auditrecord.AttrCategory, category)
	f.Put(AttrVerb, verb)
	f.Put(AttrObject, object)
	return problems
}

// DefaultLevel is CTReplay's own level (unknown or missing: info), raised
// to at least notice for deletions and recording downloads.
func (Vendor) DefaultLevel(r plog.LogRecord, action string) severity.Level {
	l := severity.Info
	if own, err := severity.Parse(vendors.Fields{Attrs: r.Attributes()}.Str(FieldLevel)); err == nil {
		l = own
	}
	verb, object := SplitAction(action)
	if verb == "DELETE" || (verb == "DOWNLOAD" && object == "Recording") {
		l = min(l, severity.Notice) // lower is more severe
	}
	return l
}

// SIEM: CTReplay's names; the target is an object (Recording id=42).
func (Vendor) SIEM() vendors.SIEMNames {
	return vendors.SIEMNames{Vendor: "CTReplay", Product: "CTReplay"}
}
