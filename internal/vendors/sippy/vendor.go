package sippy

import (
	"cmp"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// Vendor is Sippy Softswitch for the components (vendors.Vendor).
type Vendor struct{}

var _ vendors.Vendor = Vendor{}

// Source is "sippy".
func (Vendor) Source() string { return auditrecord.SourceSippy }

// EventID is "": Sippy's viewer columns carry no id, the processor hashes
// the record.
func (Vendor) EventID(pcommon.Map) string { return "" }

// ActionHints are the action codes with the viewer's descriptions.
func (Vendor) ActionHints() []vendors.ActionHint {
	all := All()
	hints := make([]vendors.ActionHint, len(all))
	for i, a := range all {
		hints[i] = vendors.ActionHint{Code: a.Code, Description: a.Description, Resource: a.Syntax}
	}
	return hints
}

// The names a Sippy record may carry the Audit Logs Viewer's columns under
// (seed 002), tried in order: first the names the auditwebhook receiver uses
// (Field*), then other spellings.
var (
	ActionFields   = []string{FieldAction}
	ActorFields    = []string{FieldActionBy, "actionBy", "actor"}
	ResourceFields = []string{FieldResource}
	AddressFields  = []string{FieldUserIP, "userIp", "ip", "ip_address", "ipAddress", "remote_ip", "node"}
)

// Sippy-specific fields added by the processor. Keys and new values of the
// resource become sippy.resource_keys<sep><key> and
// sippy.resource_fields<sep><field>.
const (
	AttrActionDescription = "sippy.action_description"
	AttrActorKind         = "sippy.actor_kind"
	AttrActorEntityID     = "sippy.actor_entity_id"
	AttrActorSubID        = "sippy.actor_sub_id"
	AttrResourceTable     = "sippy.resource_table"
	AttrResourceEntity    = "sippy.resource_entity"
	AttrResourceOperation = "sippy.resource_operation"
	AttrResourceKeys      = "sippy.resource_keys"
	AttrResourceFields    = "sippy.resource_fields"
	AttrResourceUsername  = "sippy.resource_username"
	AttrMFAType           = "sippy.mfa_type"
	AttrMFADetail         = "sippy.mfa_detail"
)

// SecurityActions are the action codes in the security category:
// authentication, credentials, MFA, certificates and the firewall.
var SecurityActions = map[string]bool{
	"AUTH_OK": true, "AUTH_FAIL": true, "AUTH_OTP": true, "OTP_RST": true, "PSWD_CHNG": true,
	"SSLCRT_ISS": true, "FW_OPEN80": true,
	"MFA_RQRD": true, "MFA_PEND": true, "MFA_SETUP": true, "MFA_VRFY": true, "MFA_FAIL": true,
	"MFA_RST": true, "MFA_RSTUSR": true,
}

// FailureActions are the action codes whose outcome is a failure.
var FailureActions = map[string]bool{"AUTH_FAIL": true, "MFA_FAIL": true}

// Normalize parses the actor and the resource and adds the audit.* and
// sippy.* fields.
func (Vendor) Normalize(r plog.LogRecord, f vendors.Fields) []string {
	var problems []string
	code := cmp.Or(r.EventName(), f.First(ActionFields...))
	actorText := f.First(ActorFields...)
	resourceText := f.First(ResourceFields...)
	address := f.First(AddressFields...)
	var absent []string
	for _, fv := range []struct{ name, value string }{
		{ActionFields[0], code}, {ActorFields[0], actorText}, {ResourceFields[0], resourceText},
	} {
		if fv.value == "" {
			absent = append(absent, fv.name)
		}
	}
	if len(absent) > 0 {
		problems = append(problems, "missing field(s) "+strings.Join(absent, ", "))
	}

	var actor Actor
	actorOK := false
	if actorText != "" {
		var err error
		if actor, err = ParseActor(actorText); err != nil {
			problems = append(problems, err.Error())
		} else {
			actorOK = true
		}
		// An actor string that does not parse is still who acted.
		f.Put(auditrecord.AttrActor, cmp.Or(actor.Name, actorText))
		if actorOK {
			f.Put(auditrecord.AttrActorID, actor.StableID())
		}
	}

	action, known := Lookup(code)
	if code != "" && !known {
		problems = append(problems, fmt.Sprintf("unknown Sippy action code %q", code))
	}
	var res Resource
	if known && resourceText != "" {
		var err error
		if res, err = ParseResource(code, resourceText); err != nil {
			problems = append(problems, err.Error())
		}
		f.Put(auditrecord.AttrTarget, cmp.Or(res.Target(action.Shape), resourceText))
	} else {
		f.Put(auditrecord.AttrTarget, resourceText)
	}
	f.Put(auditrecord.AttrClientAddress, address)
	f.Put(auditrecord.AttrAction, code)
	outcome := auditrecord.OutcomeSuccess
	switch {
	case !known:
		outcome = auditrecord.OutcomeUnknown
	case FailureActions[code]:
		outcome = auditrecord.OutcomeFailure
	}
	f.Put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if SecurityActions[code] {
		category = auditrecord.CategorySecurity
	}
	f.Put(auditrecord.AttrCategory, category)

	f.Put(AttrActionDescription, action.Description)
	if actorOK {
		f.Put(AttrActorKind, actor.KindName())
		f.Put(AttrActorEntityID, actor.ID)
		f.Put(AttrActorSubID, actor.SubID)
	}
	f.Put(AttrResourceTable, res.Table)
	f.Put(AttrResourceEntity, res.Entity)
	f.Put(AttrResourceOperation, res.Operation)
	for _, kv := range res.Keys {
		if kv.Key != "" {
			f.Attrs.PutStr(AttrResourceKeys+f.Sep+kv.Key, kv.Value)
		}
	}
	for _, kv := range res.Fields {
		if kv.Key != "" {
			f.Attrs.PutStr(AttrResourceFields+f.Sep+kv.Key, kv.Value)
		}
	}
	f.Put(AttrResourceUsername, res.Username)
	f.Put(AttrMFAType, res.MFAType)
	f.Put(AttrMFADetail, res.MFADetail)
	return problems
}

// Default levels by action code; every other code is info.
var (
	WarningActions = map[string]bool{"AUTH_FAIL": true, "MFA_FAIL": true}
	NoticeActions  = map[string]bool{
		"OTP_RST": true, "PSWD_CHNG": true, "MFA_RST": true, "MFA_RSTUSR": true, // password, OTP and MFA resets
		"D":          true, // deletes
		"FW_OPEN80":  true, // firewall
		"SSLCRT_ISS": true, // certificates
	}
)

// DefaultLevel: WarningActions warning, NoticeActions notice, the rest
// info.
func (Vendor) DefaultLevel(_ plog.LogRecord, code string) severity.Level {
	switch {
	case WarningActions[code]:
		return severity.Warning
	case NoticeActions[code]:
		return severity.Notice
	}
	return severity.Info
}

// SIEM: Sippy Software's Softswitch; the target is a resource (a table
// row, an account).
func (Vendor) SIEM() vendors.SIEMNames {
	return vendors.SIEMNames{Vendor: "Sippy Software", Product: "Sippy Softswitch"}
}
