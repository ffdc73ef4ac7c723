package auditquery

import (
	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"
)

// ActionHint describes one Sippy action code (seed 002's table).
type ActionHint struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	// Resource is the syntax of the code's resource.
	Resource string `json:"resource"`
}

// ColumnHint describes one column of the viewer.
type ColumnHint struct {
	Key   string `json:"key"`   // the Row field
	Title string `json:"title"` // the column's heading
	Hint  string `json:"hint"`
}

// Hints are the viewer's hover texts.
type Hints struct {
	Columns      []ColumnHint `json:"columns"`
	SippyActions []ActionHint `json:"sippy_actions"`
	// SippyActor explains Sippy's "Action by" strings.
	SippyActor string `json:"sippy_actor"`
}

// GetHints returns the hints: one per column (what each normalized field
// holds for each vendor, from the auditlog processor's README) and one per
// Sippy action code.
func GetHints() Hints {
	h := Hints{
		Columns: []ColumnHint{
			{"time", "Date", "WHEN the event happened (the vendor's own time; when it had none, when the collector received it). Shown in your browser's time zone unless UTC is selected."},
			{"source", "Source", "The vendor the event came from: glassix, ctreplay or sippy (audit.source). (archive) marks a line the archive writer recorded about the archive itself."},
			{"resource", "Resource", "WHERE the event happened, on whom or what (audit.target): Glassix: the target user; CTReplay: the action's object and its params (Recording id=42); Sippy: the resource with the new values (accounts:i_account=5:balance=10)."},
			{"action", "Action", "WHAT happened (the event name, audit.action): Glassix: the log type (UserRemoved); CTReplay: the action (DELETE Recording); Sippy: the action code (hover it for its meaning)."},
			{"actor", "Action by", "WHO did it (audit.actor): Glassix: the initiating user; CTReplay: userID; Sippy: kind:id:sub_id:name (u:1:3726:main_admin)."},
			{"client_address", "User IP/Node", "Where the request came from (audit.client_address): the user's IP address; for Sippy sometimes a node id."},
			{"severity", "Severity", "The syslog level the auditlog processor classified the event as: emerg, alert, crit, err, warning, notice, info, debug."},
			{"message", "Message", "The event's human-readable message (the record's body)."},
			{"integrity", "Integrity", "The hash-chain check of the line: ok, or what is wrong (modified, unlinked, malformed, incomplete, unreadable). A marked line must not be trusted."},
		},
		SippyActor: "Sippy Action by: kind:id:sub_id:name. kind u = web user (id: i_customer owning it, sub_id: i_web_user, name: web login), a = account (i_account, 0, username), c = customer (i_customer, 0, web login), v = vendor (i_vendor, 0, web login), t = trusted XMLAPI call (0, 0, the environment's IP address).",
	}
	if v, ok := registry.Lookup(auditrecord.SourceSippy); ok {
		for _, a := range v.ActionHints() {
			h.SippyActions = append(h.SippyActions, ActionHint(a))
		}
	}
	return h
}
