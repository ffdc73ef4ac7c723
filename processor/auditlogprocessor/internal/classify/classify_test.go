package classify

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

func rec(eventName string, kv ...string) plog.LogRecord {
	r := plog.NewLogRecord()
	r.SetEventName(eventName)
	for i := 0; i < len(kv); i += 2 {
		r.Attributes().PutStr(kv[i], kv[i+1])
	}
	return r
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name   string
		source string
		rec    plog.LogRecord
		want   severity.Level
	}{
		{"glassix informative", "glassix", rec("ChatbotMappingsChange", "logType", "Informative", "audit.category", "informative"), severity.Info},
		{"glassix security", "glassix", rec("UserRemoved", "logType", "Security", "audit.category", "security"), severity.Notice},
		{"glassix failure", "glassix", rec("LoginFailed", "audit.category", "security"), severity.Warning},
		{"glassix lockout", "glassix", rec("UserLockedOut", "audit.category", "security"), severity.Warning},
		{"glassix locked", "glassix", rec("UserLocked", "audit.category", "security"), severity.Warning},
		{"glassix unlock is not alarming", "glassix", rec("UserUnlocked", "audit.category", "security"), severity.Notice},
		{"glassix informative failure", "glassix", rec("WebhookDeliveryFailed", "audit.category", "informative"), severity.Warning},
		{"glassix type from audit.action", "glassix", rec("", "audit.action", "LoginFailed"), severity.Warning},

		{"ctreplay keeps its level", "ctreplay", rec("GET ALL Profile", "level", "info"), severity.Info},
		{"ctreplay keeps a higher level", "ctreplay", rec("SAVE Profile", "level", "error"), severity.Err},
		{"ctreplay winston warn", "ctreplay", rec("SET tag", "level", "warn"), severity.Warning},
		{"ctreplay debug stays", "ctreplay", rec("GET wave form", "level", "debug"), severity.Debug},
		{"ctreplay unknown level is info", "ctreplay", rec("GET USERS", "level", "http"), severity.Info},
		{"ctreplay no level is info", "ctreplay", rec("GET USERS"), severity.Info},
		{"ctreplay deletion raised to notice", "ctreplay", rec("DELETE Recording", "level", "info"), severity.Notice},
		{"ctreplay profile deletion raised", "ctreplay", rec("DELETE Profile", "level", "debug"), severity.Notice},
		{"ctreplay download raised", "ctreplay", rec("DOWNLOAD Recording", "level", "info"), severity.Notice},
		{"ctreplay deletion at error stays error", "ctreplay", rec("DELETE Recording", "level", "error"), severity.Err},
		{"ctreplay play not raised", "ctreplay", rec("PLAY Recording", "level", "info"), severity.Info},

		{"sippy bad auth", "sippy", rec("AUTH_FAIL"), severity.Warning},
		{"sippy mfa failed", "sippy", rec("MFA_FAIL"), severity.Warning},
		{"sippy otp reset", "sippy", rec("OTP_RST"), severity.Notice},
		{"sippy password change", "sippy", rec("PSWD_CHNG"), severity.Notice},
		{"sippy mfa reset all", "sippy", rec("MFA_RST"), severity.Notice},
		{"sippy mfa reset user", "sippy", rec("MFA_RSTUSR"), severity.Notice},
		{"sippy delete", "sippy", rec("D"), severity.Notice},
		{"sippy firewall", "sippy", rec("FW_OPEN80"), severity.Notice},
		{"sippy certificate", "sippy", rec("SSLCRT_ISS"), severity.Notice},
		{"sippy update", "sippy", rec("U"), severity.Info},
		{"sippy good auth", "sippy", rec("AUTH_OK"), severity.Info},
		{"sippy code from audit.action", "sippy", rec("", "audit.action", "AUTH_FAIL"), severity.Warning},

		{"parse error raises to warning", "ctreplay", rec("", "audit.parse_error", "not JSON"), severity.Warning},
		{"parse error keeps a higher level", "ctreplay", rec("SAVE Profile", "level", "crit", "audit.parse_error", "x"), severity.Crit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Default(tt.source, tt.rec))
			l, rule := New(nil).Level(tt.source, tt.rec)
			assert.Equal(t, tt.want, l)
			assert.Equal(t, -1, rule)
		})
	}
}

func TestUserRulesFirstMatchWins(t *testing.T) {
	rules := []Rule{
		{Name: "vip", Source: "glassix", Attributes: []AttrMatch{{Key: "audit.actor", Value: "[email protected]"}}, Level: severity.Alert},
		{Name: "exact event", Source: "sippy", EventName: "AUTH_OK", Level: severity.Notice},
		{Name: "regex event", EventNameRegex: regexp.MustCompile(`^Role`), Level: severity.Warning},
		{Name: "attr regex", Attributes: []AttrMatch{{Key: "sippy.resource_table", Regex: regexp.MustCompile(`^(tariffs|rates)$`)}}, Level: severity.Err},
		{Name: "both conditions", Source: "ctreplay", EventName: "GET USERS", Attributes: []AttrMatch{{Key: "userID", Value: "admin"}}, Level: severity.Crit},
		{Name: "empty value", Attributes: []AttrMatch{{Key: "params", Value: ""}}, Level: severity.Debug},
	}
	c := New(rules)
	tests := []struct {
		name     string
		source   string
		rec      plog.LogRecord
		want     severity.Level
		wantRule int
	}{
		{"attribute value", "glassix", rec("RoleRemoved", "audit.actor", "[email protected]"), severity.Alert, 0},
		{"earlier rule wins over a later match", "glassix", rec("RoleAdded", "audit.actor", "[email protected]"), severity.Alert, 0},
		{"source must match", "ctreplay", rec("AUTH_OK"), severity.Info, -1},
		{"exact event name", "sippy", rec("AUTH_OK"), severity.Notice, 1},
		{"exact is not prefix", "sippy", rec("AUTH_OKAY"), severity.Info, -1},
		{"regex event name, any source", "glassix", rec("RoleRemoved", "audit.actor", "someone"), severity.Warning, 2},
		{"attribute regex", "sippy", rec("U", "sippy.resource_table", "rates"), severity.Err, 3},
		{"attribute regex no match", "sippy", rec("U", "sippy.resource_table", "ratesx"), severity.Info, -1},
		{"all conditions must hold", "ctreplay", rec("GET USERS", "userID", "admin", "level", "info"), severity.Crit, 4},
		{"one condition failing", "ctreplay", rec("GET USERS", "userID", "bob", "level", "info"), severity.Info, -1},
		{"missing attribute never matches", "ctreplay", rec("GET USERS", "level", "info"), severity.Info, -1},
		{"value can be empty", "ctreplay", rec("GET ALL Profile", "params", ""), severity.Debug, 5},
		{"defaults after user rules", "sippy", rec("AUTH_FAIL"), severity.Warning, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, rule := c.Level(tt.source, tt.rec)
			assert.Equal(t, tt.want, l)
			assert.Equal(t, tt.wantRule, rule)
			c.Apply(tt.source, tt.rec)
			assert.Equal(t, tt.want.OTel(), tt.rec.SeverityNumber())
			assert.Equal(t, tt.want.String(), tt.rec.SeverityText())
		})
	}
}

func TestCatchAllRuleOverridesDefaults(t *testing.T) {
	c := New([]Rule{{Level: severity.Notice}})
	l, rule := c.Level("sippy", rec("AUTH_FAIL"))
	assert.Equal(t, severity.Notice, l, "a rule without conditions matches every record")
	assert.Equal(t, 0, rule)
}
