// Package normalize adds the vendor-neutral audit.* fields of
// internal/auditrecord to flattened vendor records, plus a few per-vendor
// fields an analyst needs (Sippy's parsed actor and resource, CTReplay's
// verb and object). Where each field comes from is tabled per vendor in the
// processor's README; keep the two in step.
package normalize // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/normalize"

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/sippyactions"
)

// Record adds the normalized fields of r, a record from source whose
// attributes were flattened with separator sep. It returns what is wrong
// with the record (missing or unreadable fields), for audit.parse_error;
// the fields that could be derived are added regardless.
func Record(source string, r plog.LogRecord, sep string) []string {
	v := view{attrs: r.Attributes(), sep: sep}
	switch source {
	case auditrecord.SourceGlassix:
		return glassix(v, r)
	case auditrecord.SourceCTReplay:
		return ctReplay(v, r)
	case auditrecord.SourceSippy:
		return sippy(v, r)
	}
	return nil
}

// view reads flattened vendor fields.
type view struct {
	attrs pcommon.Map
	sep   string
}

// str returns the field at path (joined with the separator, as flattening
// named it) as a string; "" when absent or null.
func (v view) str(path ...string) string {
	val, ok := v.attrs.Get(strings.Join(path, v.sep))
	if !ok {
		return ""
	}
	if val.Type() == pcommon.ValueTypeStr {
		return val.Str()
	}
	return val.AsString()
}

// first returns the first non-empty field among names, and its name.
func (v view) first(names ...string) (string, string) {
	for _, n := range names {
		if s := v.str(n); s != "" {
			return s, n
		}
	}
	return "", ""
}

// put sets a normalized field, leaving it out when the value is unknown.
func (v view) put(key, value string) {
	if value != "" {
		v.attrs.PutStr(key, value)
	}
}

// missing returns the problem naming the absent fields, if any.
func (v view) missing(fields ...string) []string {
	var absent []string
	for _, f := range fields {
		if v.str(f) == "" {
			absent = append(absent, f)
		}
	}
	if len(absent) == 0 {
		return nil
	}
	return []string{"missing field(s) " + strings.Join(absent, ", ")}
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Glassix fields (seed 000: the log object of an AUDIT_LOGS change).
const (
	glassixID        = "id"
	glassixType      = "type"
	glassixLogType   = "logType"
	glassixIP        = "ipAddress"
	glassixInitiator = "initiatorUser"
	glassixTarget    = "targetUser"
	glassixUserName  = "UserName"
	glassixUserID    = "id"
)

// GlassixFailureWords are the words (case-insensitive) of the Glassix
// event types whose outcome is a failure.
var GlassixFailureWords = []string{"fail", "denied", "rejected", "invalid", "unauthorized", "unauthorised"}

// GlassixFailure reports whether a Glassix event type is a failure.
func GlassixFailure(eventType string) bool {
	lower := strings.ToLower(eventType)
	for _, w := range GlassixFailureWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func glassix(v view, r plog.LogRecord) []string {
	problems := v.missing(glassixID, glassixType, glassixLogType)
	action := orElse(r.EventName(), v.str(glassixType))
	v.put(auditrecord.AttrActor, orElse(v.str(glassixInitiator, glassixUserName), v.str(glassixInitiator, glassixUserID)))
	v.put(auditrecord.AttrActorID, v.str(glassixInitiator, glassixUserID))
	v.put(auditrecord.AttrTarget, orElse(v.str(glassixTarget, glassixUserName), v.str(glassixTarget, glassixUserID)))
	v.put(auditrecord.AttrClientAddress, v.str(glassixIP))
	v.put(auditrecord.AttrAction, action)
	outcome := auditrecord.OutcomeSuccess
	if GlassixFailure(action) {
		outcome = auditrecord.OutcomeFailure
	}
	v.put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if strings.EqualFold(v.str(glassixLogType), "Security") {
		category = auditrecord.CategorySecurity
	}
	v.put(auditrecord.AttrCategory, category)
	return problems
}

// CTReplay-specific fields added by the processor.
const (
	AttrCTReplayVerb   = "ctreplay.verb"
	AttrCTReplayObject = "ctreplay.object"
)

// CTReplayVerbs are the verbs of seed 001's action list; "GET ALL" is
// tried before "GET".
var CTReplayVerbs = []string{"GET ALL", "GET", "DELETE", "SAVE", "SET", "SEARCH", "DOWNLOAD", "PLAY"}

// SplitCTReplayAction splits "GET ALL Profile" into its verb and object. An
// unknown verb is the first word.
func SplitCTReplayAction(action string) (verb, object string) {
	for _, vb := range CTReplayVerbs {
		if rest, ok := strings.CutPrefix(action, vb); ok && (rest == "" || rest[0] == ' ') {
			return vb, strings.TrimSpace(rest)
		}
	}
	verb, object, _ = strings.Cut(action, " ")
	return verb, strings.TrimSpace(object)
}

// CTReplaySecurity reports whether a CTReplay action is security-relevant:
// a deletion, or downloading or playing a recording.
func CTReplaySecurity(verb, object string) bool {
	return verb == "DELETE" || (object == "Recording" && (verb == "DOWNLOAD" || verb == "PLAY"))
}

// CTReplayWhoFields are the CTReplay fields normalization needs besides the
// record contract's (ctreplay.RequiredFields): who acted and from where.
var CTReplayWhoFields = []string{ctreplay.FieldUserID, ctreplay.FieldIPAddress}

func ctReplay(v view, r plog.LogRecord) []string {
	// ts and action in the parser's words, so a record the receiver or the
	// parse step already flagged is not flagged again in other words.
	problems := ctreplay.CheckRequired(v.attrs)
	problems = append(problems, v.missing(CTReplayWhoFields...)...)
	action := orElse(r.EventName(), v.str(ctreplay.FieldAction))
	verb, object := SplitCTReplayAction(action)
	user := v.str(ctreplay.FieldUserID)
	v.put(auditrecord.AttrActor, user)
	v.put(auditrecord.AttrActorID, user)
	target := object
	if params := v.str(ctreplay.FieldParams); params != "" {
		target = strings.TrimSpace(object + " " + params)
	}
	v.put(auditrecord.AttrTarget, target)
	v.put(auditrecord.AttrClientAddress, v.str(ctreplay.FieldIPAddress))
	v.put(auditrecord.AttrAction, action)
	outcome := auditrecord.OutcomeSuccess
	if l, err := severity.Parse(v.str(ctreplay.FieldLevel)); err == nil && l <= severity.Err {
		outcome = auditrecord.OutcomeFailure
	}
	v.put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if CTReplaySecurity(verb, object) {
		category = auditrecord.CategorySecurity
	}
	v.put(auditrecord.AttrCategory, category)
	v.put(AttrCTReplayVerb, verb)
	v.put(AttrCTReplayObject, object)
	return problems
}

// Sippy fields. Sippy's audit log has the columns Resource, Action, Action
// by, Date and User IP/Node (seed 002); the names below are the ones its
// records may carry them under, tried in order: first the names the
// auditwebhook receiver uses (sippyactions.Field*), then other spellings.
var (
	SippyActionFields   = []string{sippyactions.FieldAction}
	SippyActorFields    = []string{sippyactions.FieldActionBy, "actionBy", "actor"}
	SippyResourceFields = []string{sippyactions.FieldResource}
	SippyAddressFields  = []string{sippyactions.FieldUserIP, "userIp", "ip", "ip_address", "ipAddress", "remote_ip", "node"}
)

// Sippy-specific fields added by the processor. Keys and new values of the
// resource become sippy.resource_keys<sep><key> and
// sippy.resource_fields<sep><field>.
const (
	AttrSippyActionDescription = "sippy.action_description"
	AttrSippyActorKind         = "sippy.actor_kind"
	AttrSippyActorEntityID     = "sippy.actor_entity_id"
	AttrSippyActorSubID        = "sippy.actor_sub_id"
	AttrSippyResourceTable     = "sippy.resource_table"
	AttrSippyResourceEntity    = "sippy.resource_entity"
	AttrSippyResourceOperation = "sippy.resource_operation"
	AttrSippyResourceKeys      = "sippy.resource_keys"
	AttrSippyResourceFields    = "sippy.resource_fields"
	AttrSippyResourceUsername  = "sippy.resource_username"
	AttrSippyMFAType           = "sippy.mfa_type"
	AttrSippyMFADetail         = "sippy.mfa_detail"
)

// SippySecurityActions are the action codes in the security category:
// authentication, credentials, MFA, certificates and the firewall.
var SippySecurityActions = map[string]bool{
	"AUTH_OK": true, "AUTH_FAIL": true, "AUTH_OTP": true, "OTP_RST": true, "PSWD_CHNG": true,
	"SSLCRT_ISS": true, "FW_OPEN80": true,
	"MFA_RQRD": true, "MFA_PEND": true, "MFA_SETUP": true, "MFA_VRFY": true, "MFA_FAIL": true,
	"MFA_RST": true, "MFA_RSTUSR": true,
}

// SippyFailureActions are the action codes whose outcome is a failure.
var SippyFailureActions = map[string]bool{"AUTH_FAIL": true, "MFA_FAIL": true}

func sippy(v view, r plog.LogRecord) []string {
	var problems []string
	code := r.EventName()
	if code == "" {
		code, _ = v.first(SippyActionFields...)
	}
	actorText, _ := v.first(SippyActorFields...)
	resourceText, _ := v.first(SippyResourceFields...)
	address, _ := v.first(SippyAddressFields...)
	var absent []string
	for _, f := range []struct{ name, value string }{
		{SippyActionFields[0], code}, {SippyActorFields[0], actorText}, {SippyResourceFields[0], resourceText},
	} {
		if f.value == "" {
			absent = append(absent, f.name)
		}
	}
	if len(absent) > 0 {
		problems = append(problems, "missing field(s) "+strings.Join(absent, ", "))
	}

	var actor sippyactions.Actor
	actorOK := false
	if actorText != "" {
		var err error
		if actor, err = sippyactions.ParseActor(actorText); err != nil {
			problems = append(problems, err.Error())
		} else {
			actorOK = true
		}
		// An actor string that does not parse is still who acted.
		v.put(auditrecord.AttrActor, orElse(actor.Name, actorText))
		if actorOK {
			v.put(auditrecord.AttrActorID, actor.StableID())
		}
	}

	action, known := sippyactions.Lookup(code)
	if code != "" && !known {
		problems = append(problems, fmt.Sprintf("unknown Sippy action code %q", code))
	}
	var res sippyactions.Resource
	if known && resourceText != "" {
		var err error
		if res, err = sippyactions.ParseResource(code, resourceText); err != nil {
			problems = append(problems, err.Error())
		}
		v.put(auditrecord.AttrTarget, orElse(res.Target(action.Shape), resourceText))
	} else {
		v.put(auditrecord.AttrTarget, resourceText)
	}
	v.put(auditrecord.AttrClientAddress, address)
	v.put(auditrecord.AttrAction, code)
	outcome := auditrecord.OutcomeSuccess
	switch {
	case !known:
		outcome = auditrecord.OutcomeUnknown
	case SippyFailureActions[code]:
		outcome = auditrecord.OutcomeFailure
	}
	v.put(auditrecord.AttrOutcome, outcome)
	category := auditrecord.CategoryInformative
	if SippySecurityActions[code] {
		category = auditrecord.CategorySecurity
	}
	v.put(auditrecord.AttrCategory, category)

	v.put(AttrSippyActionDescription, action.Description)
	if actorOK {
		v.put(AttrSippyActorKind, actor.KindName())
		v.put(AttrSippyActorEntityID, actor.ID)
		v.put(AttrSippyActorSubID, actor.SubID)
	}
	v.put(AttrSippyResourceTable, res.Table)
	v.put(AttrSippyResourceEntity, res.Entity)
	v.put(AttrSippyResourceOperation, res.Operation)
	for _, kv := range res.Keys {
		if kv.Key != "" {
			v.attrs.PutStr(AttrSippyResourceKeys+v.sep+kv.Key, kv.Value)
		}
	}
	for _, kv := range res.Fields {
		if kv.Key != "" {
			v.attrs.PutStr(AttrSippyResourceFields+v.sep+kv.Key, kv.Value)
		}
	}
	v.put(AttrSippyResourceUsername, res.Username)
	v.put(AttrSippyMFAType, res.MFAType)
	v.put(AttrSippyMFADetail, res.MFADetail)
	return problems
}
