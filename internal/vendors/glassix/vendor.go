package glassix // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"

import (
	"cmp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// Vendor is Glassix for the components (vendors.Vendor).
type Vendor struct{}

var _ vendors.Vendor = Vendor{}

// Source is "glassix".
func (Vendor) Source() string { return auditrecord.SourceGlassix }

// Fields of the log object of an AUDIT_LOGS change (seed 000) that
// normalization reads, besides the record mapping's (glassix.go).
const (
	FieldID        = "id"
	FieldLogType   = "logType"
	FieldIP        = "ipAddress"
	FieldInitiator = "initiatorUser"
	FieldTarget    = "targetUser"
	FieldUserName  = "UserName"
	FieldUserID    = "id"
)

// EventID is the log object's id: Glassix's own event id.
func (Vendor) EventID(attrs pcommon.Map) string {
	if v, ok := attrs.Get(FieldID); ok {
		return v.AsString()
	}
	return ""
}

// ActionHints is nil: Glassix event types are words.
func (Vendor) ActionHints() []vendors.ActionHint { return nil }

// FailureWords are the words (case-insensitive) of the Glassix event types
// whose outcome is a failure.
var FailureWords = []string{"fail", "denied", "rejected", "invalid", "unauthorized", "unauthorised"}

// Failure reports whether a Glassix event type is a failure.
func Failure(eventType string) bool {
	lower := strings.ToLower(eventType)
	for _, w := range FailureWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// Normalize adds the audit.* fields from the log object's fields.
func (Vendor) Normalize(r plog.LogRecord, f vendors.Fields) []string {
	problems := f.Missing(FieldID, FieldType, FieldLogType)
	action := cmp.Or(r.EventName(), f.Str(FieldType))
	f.Put(auditrecord.AttrActor, cmp.Or(f.Str(FieldInitiator, FieldUserName), f.Str(FieldInitiator, FieldUserID)))
	f.Put(auditrecord.AttrActorID, f.Str(FieldInitiator, FieldUserID))
	f.Put(auditrecord.AttrTarget, cmp.Or(f.Str(FieldTarget, FieldUserName), f.Str(FieldTarget, FieldUserID)))
	f.Put(auditrecord.AttrClientAddress, f.Str(FieldIP))
	f.Put(auditrecord.AttrAction, action)
	outcome := auditrecord.OutcomeSuccess
	if Failure(action) {
		outcome = auditrecord.OutcomeFailure
	}
	f.Put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if strings.EqualFold(f.Str(FieldLogType), "Security") {
		category = auditrecord.CategorySecurity
	}
	f.Put(auditrecord.AttrCategory, category)
	return problems
}

// AlarmingWords are the words (case-insensitive) of the Glassix event
// types that default to warning: failures and lockouts.
var AlarmingWords = []string{"fail", "denied", "blocked", "rejected", "invalid", "unauthorized", "unauthorised", "lockout"}

// Alarming reports whether a Glassix event type defaults to warning: it
// holds one of AlarmingWords, or "Locked" as a word of its PascalCase name
// ("UserLocked", "AccountLockedOut"; not "UserUnlocked").
func Alarming(eventType string) bool {
	lower := strings.ToLower(eventType)
	for _, w := range AlarmingWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	for rest := eventType; ; {
		i := strings.Index(rest, "Locked")
		if i < 0 {
			return false
		}
		if i == 0 || (rest[i-1] >= 'a' && rest[i-1] <= 'z') {
			return true
		}
		rest = rest[i+len("Locked"):]
	}
}

// DefaultLevel: failures and lockouts (Alarming) warning; logType Security
// notice; the rest (Informative) info.
func (Vendor) DefaultLevel(r plog.LogRecord, action string) severity.Level {
	switch {
	case Alarming(action):
		return severity.Warning
	case vendors.Fields{Attrs: r.Attributes()}.Str(auditrecord.AttrCategory) == auditrecord.CategorySecurity:
		return severity.Notice
	}
	return severity.Info
}

// SIEM: Glassix's own names; the target of a Glassix event is a user.
func (Vendor) SIEM() vendors.SIEMNames {
	return vendors.SIEMNames{Vendor: "Glassix", Product: "Glassix", TargetIsUser: true}
}
