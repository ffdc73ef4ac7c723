package normalize

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
)

// record builds a flattened record from raw attributes in the given order
// (pairs of key, value).
func record(t *testing.T, eventName string, kv ...any) plog.LogRecord {
	t.Helper()
	r := plog.NewLogRecord()
	r.SetEventName(eventName)
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, r.Attributes().PutEmpty(kv[i].(string)).FromRaw(kv[i+1]))
	}
	flatten.InPlace(r.Attributes(), flatten.Options{})
	return r
}

// added returns the attributes whose key has one of the given prefixes.
func added(r plog.LogRecord) map[string]string {
	out := map[string]string{}
	r.Attributes().Range(func(k string, v pcommon.Value) bool {
		if strings.HasPrefix(k, "audit.") || strings.HasPrefix(k, "sippy.") || strings.HasPrefix(k, "ctreplay.") {
			out[k] = v.AsString()
		}
		return true
	})
	return out
}

func glassixUser(id, name string) map[string]any {
	return map[string]any{"id": id, "gender": "Male", "UserName": name, "culture": "en-US", "isAnonymous": false, "uniqueArgument": "", "type": "AGENT"}
}

func TestGlassix(t *testing.T) {
	tests := []struct {
		name     string
		rec      plog.LogRecord
		want     map[string]string
		problems []string
	}{
		{
			name: "seed informative",
			rec: record(t, "ChatbotMappingsChange",
				"id", "8e548273-0418-4e7b-acd6-c79f7d31e3ec", "dateTime", "2024-01-07T12:23:16.7965229Z",
				"initiatorUser", glassixUser("aca76a89-8950-4424-b727-2f277c24a891", "[email protected]"),
				"ipAddress", "212.199.97.210", "message", "[email protected] changed chatbot mappings",
				"type", "ChatbotMappingsChange", "logType", "Informative"),
			want: map[string]string{
				"audit.actor": "[email protected]", "audit.actor_id": "aca76a89-8950-4424-b727-2f277c24a891",
				"audit.client_address": "212.199.97.210", "audit.action": "ChatbotMappingsChange",
				"audit.outcome": "success", "audit.category": "informative",
			},
		},
		{
			name: "seed security with a target",
			rec: record(t, "UserRemoved",
				"id", "cb20ff99-25bb-400c-a8cd-9052fc5f6d3f",
				"initiatorUser", glassixUser("aca76a89-8950-4424-b727-2f277c24a891", "[email protected]"),
				"targetUser", glassixUser("2bab1a91-b203-4127-a546-8636165e873a", "[email protected]"),
				"ipAddress", "212.199.97.210", "type", "UserRemoved", "logType", "Security"),
			want: map[string]string{
				"audit.actor": "[email protected]", "audit.actor_id": "aca76a89-8950-4424-b727-2f277c24a891",
				"audit.target": "[email protected]", "audit.client_address": "212.199.97.210",
				"audit.action": "UserRemoved", "audit.outcome": "success", "audit.category": "security",
			},
		},
		{
			name: "failed login, event name from type, target without a name",
			rec: record(t, "", "id", "x", "type", "LoginFailed", "logType", "Security",
				"targetUser", map[string]any{"id": "t-1"}),
			want: map[string]string{
				"audit.target": "t-1", "audit.action": "LoginFailed", "audit.outcome": "failure", "audit.category": "security",
			},
		},
		{
			name:     "missing fields are reported, the rest still derived",
			rec:      record(t, "", "ipAddress", "10.0.0.1"),
			want:     map[string]string{"audit.client_address": "10.0.0.1", "audit.outcome": "success", "audit.category": "informative"},
			problems: []string{"missing field(s) id, type, logType"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := Record("glassix", tt.rec, "_")
			assert.Equal(t, tt.problems, problems)
			assert.Equal(t, tt.want, added(tt.rec))
		})
	}
}

func TestCTReplay(t *testing.T) {
	line := func(action, params, level string) plog.LogRecord {
		return record(t, action, "ts", "08/01/2021 - 12:44:30.479", "domain", "SAASFCL", "userID", "admin",
			"ipAddress", "::1", "action", action, "params", params, "level", level)
	}
	tests := []struct {
		name     string
		rec      plog.LogRecord
		want     map[string]string
		problems []string
	}{
		{"seed line", line("GET ALL Profile", "", "info"), map[string]string{
			"audit.actor": "admin", "audit.actor_id": "admin", "audit.target": "Profile", "audit.client_address": "::1",
			"audit.action": "GET ALL Profile", "audit.outcome": "success", "audit.category": "informative",
			"ctreplay.verb": "GET ALL", "ctreplay.object": "Profile",
		}, nil},
		{"deletion with params", line("DELETE Recording", "id=42", "info"), map[string]string{
			"audit.actor": "admin", "audit.actor_id": "admin", "audit.target": "Recording id=42", "audit.client_address": "::1",
			"audit.action": "DELETE Recording", "audit.outcome": "success", "audit.category": "security",
			"ctreplay.verb": "DELETE", "ctreplay.object": "Recording",
		}, nil},
		{"download is security, error level a failure", line("DOWNLOAD Recording", "", "error"), map[string]string{
			"audit.actor": "admin", "audit.actor_id": "admin", "audit.target": "Recording", "audit.client_address": "::1",
			"audit.action": "DOWNLOAD Recording", "audit.outcome": "failure", "audit.category": "security",
			"ctreplay.verb": "DOWNLOAD", "ctreplay.object": "Recording",
		}, nil},
		{"missing user and address", record(t, "SET tag", "ts", "08/01/2021 - 12:44:30.479", "action", "SET tag"), map[string]string{
			"audit.target": "tag", "audit.action": "SET tag", "audit.outcome": "success", "audit.category": "informative",
			"ctreplay.verb": "SET", "ctreplay.object": "tag",
		}, []string{"missing field(s) userID, ipAddress"}},
		{"missing ts and action, in the parser's words", record(t, "", "userID", "admin", "params", "id=1"), map[string]string{
			"audit.actor": "admin", "audit.actor_id": "admin", "audit.target": "id=1", "audit.outcome": "success", "audit.category": "informative",
		}, []string{"ts: missing", "action: missing", "missing field(s) ipAddress"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.problems, Record("ctreplay", tt.rec, "_"))
			assert.Equal(t, tt.want, added(tt.rec))
		})
	}
}

func TestSippy(t *testing.T) {
	tests := []struct {
		name     string
		rec      plog.LogRecord
		want     map[string]string
		problems []string
	}{
		{
			name: "update by a web user",
			rec:  record(t, "U", "resource", "accounts:i_account=5:balance=10", "action", "U", "action_by", "u:1:3726:main_admin", "user_ip", "10.1.2.3"),
			want: map[string]string{
				"audit.actor": "main_admin", "audit.actor_id": "u:1:3726", "audit.target": "accounts:i_account=5",
				"audit.client_address": "10.1.2.3", "audit.action": "U", "audit.outcome": "success", "audit.category": "informative",
				"sippy.action_description": "Update a record", "sippy.actor_kind": "web_user", "sippy.actor_entity_id": "1",
				"sippy.actor_sub_id": "3726", "sippy.resource_table": "accounts", "sippy.resource_keys_i_account": "5",
				"sippy.resource_fields_balance": "10",
			},
		},
		{
			name: "bad auth, vendor name with a quote",
			rec:  record(t, "AUTH_FAIL", "resource", "customer:username=bob", "action_by", "v:105532:0:1743624'22", "node", "node-7"),
			want: map[string]string{
				"audit.actor": "1743624'22", "audit.actor_id": "v:105532:0", "audit.target": "customer:username=bob",
				"audit.client_address": "node-7", "audit.action": "AUTH_FAIL", "audit.outcome": "failure", "audit.category": "security",
				"sippy.action_description": "Bad auth", "sippy.actor_kind": "vendor", "sippy.actor_entity_id": "105532",
				"sippy.actor_sub_id": "0", "sippy.resource_entity": "customer", "sippy.resource_keys_username": "bob",
			},
		},
		{
			name: "mfa with detail, trusted xmlapi actor",
			rec:  record(t, "MFA_SETUP", "resource", "web_user:main_admin:totp:app", "action_by", "t:0:0:2.2.2.2"),
			want: map[string]string{
				"audit.actor": "2.2.2.2", "audit.actor_id": "t:0:0", "audit.target": "web_user:main_admin",
				"audit.action": "MFA_SETUP", "audit.outcome": "success", "audit.category": "security",
				"sippy.action_description": "MFA setup done", "sippy.actor_kind": "trusted_xmlapi", "sippy.actor_entity_id": "0",
				"sippy.actor_sub_id": "0", "sippy.resource_entity": "web_user", "sippy.resource_username": "main_admin",
				"sippy.mfa_type": "totp", "sippy.mfa_detail": "app",
			},
		},
		{
			name: "funds, code from the action field",
			rec:  record(t, "", "resource", "credit:i_account=7:amount=10.50", "action", "FUNDS", "action_by", "c:1:0:000123"),
			want: map[string]string{
				"audit.actor": "000123", "audit.actor_id": "c:1:0", "audit.target": "i_account=7",
				"audit.action": "FUNDS", "audit.outcome": "success", "audit.category": "informative",
				"sippy.action_description": "Add funds/Debit/Credit", "sippy.actor_kind": "customer", "sippy.actor_entity_id": "1",
				"sippy.actor_sub_id": "0", "sippy.resource_operation": "credit", "sippy.resource_keys_i_account": "7",
				"sippy.resource_fields_amount": "10.50",
			},
		},
		{
			name: "unknown code and a bad actor are flagged, what is known kept",
			rec:  record(t, "ZAP", "resource", "x=1", "action_by", "main_admin"),
			want: map[string]string{
				"audit.actor": "main_admin", "audit.target": "x=1", "audit.action": "ZAP",
				"audit.outcome": "unknown", "audit.category": "informative",
			},
			problems: []string{`actor "main_admin": want kind:id:sub_id:name`, `unknown Sippy action code "ZAP"`},
		},
		{
			name: "resource not fitting the syntax",
			rec:  record(t, "D", "resource", "accounts", "action_by", "u:1:3726:main_admin"),
			want: map[string]string{
				"audit.actor": "main_admin", "audit.actor_id": "u:1:3726", "audit.target": "accounts",
				"audit.action": "D", "audit.outcome": "success", "audit.category": "informative",
				"sippy.action_description": "Delete record", "sippy.actor_kind": "web_user", "sippy.actor_entity_id": "1",
				"sippy.actor_sub_id": "3726", "sippy.resource_table": "accounts",
			},
			problems: []string{`D resource "accounts": no keys, want table_name:key1=val1[,key2=val2...]`},
		},
		{
			name:     "nothing there",
			rec:      record(t, ""),
			want:     map[string]string{"audit.outcome": "unknown", "audit.category": "informative"},
			problems: []string{"missing field(s) action, action_by, resource"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.problems, Record("sippy", tt.rec, "_"))
			assert.Equal(t, tt.want, added(tt.rec))
		})
	}
}

func TestSeparatorIsHonoured(t *testing.T) {
	r := plog.NewLogRecord()
	require.NoError(t, r.Attributes().FromRaw(map[string]any{
		"id": "1", "type": "UserRemoved", "logType": "Security",
		"initiatorUser": map[string]any{"id": "u1", "UserName": "alice"},
	}))
	flatten.InPlace(r.Attributes(), flatten.Options{Separator: "."})
	Record("glassix", r, ".")
	got := added(r)
	assert.Equal(t, "alice", got["audit.actor"])
	assert.Equal(t, "u1", got["audit.actor_id"])

	s := record(t, "BRUN", "resource", "i_account=7", "action_by", "u:1:2:x")
	s.Attributes().Clear()
	s.Attributes().PutStr("resource", "i_account=7")
	s.Attributes().PutStr("action_by", "u:1:2:x")
	Record("sippy", s, ".")
	assert.Equal(t, "7", added(s)["sippy.resource_keys.i_account"])
}

func TestUnknownSourceIsLeftAlone(t *testing.T) {
	r := record(t, "x", "a", "b")
	assert.Nil(t, Record("other", r, "_"))
	assert.Empty(t, added(r))
}
