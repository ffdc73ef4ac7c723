// Package classify decides a normalized audit record's syslog severity:
// the user's rules first, in their order, the first match winning; then the
// built-in defaults per vendor. The level is stored on the record with
// internal/severity, the one OTel <-> syslog mapping.
package classify // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/classify"

import (
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/normalize"
)

// AttrMatch matches one attribute: its value (as a string) equal to Value,
// or matching Regex when Regex is set. A missing attribute never matches.
type AttrMatch struct {
	Key   string
	Value string
	Regex *regexp.Regexp
}

func (m AttrMatch) matches(attrs pcommon.Map) bool {
	v, ok := attrs.Get(m.Key)
	if !ok {
		return false
	}
	s := v.AsString()
	if m.Regex != nil {
		return m.Regex.MatchString(s)
	}
	return s == m.Value
}

// Rule is a user rule: every condition that is set must hold.
type Rule struct {
	// Name identifies the rule in logs and docs; optional.
	Name string
	// Source is audit.source; empty matches every source.
	Source string
	// EventName must equal the record's EventName, when set.
	EventName string
	// EventNameRegex must match the record's EventName, when set.
	EventNameRegex *regexp.Regexp
	Attributes     []AttrMatch
	Level          severity.Level
}

func (r Rule) matches(source string, lr plog.LogRecord) bool {
	if r.Source != "" && r.Source != source {
		return false
	}
	if r.EventName != "" && r.EventName != lr.EventName() {
		return false
	}
	if r.EventNameRegex != nil && !r.EventNameRegex.MatchString(lr.EventName()) {
		return false
	}
	attrs := lr.Attributes()
	for _, m := range r.Attributes {
		if !m.matches(attrs) {
			return false
		}
	}
	return true
}

// Classifier holds the user's rules.
type Classifier struct {
	rules []Rule
}

// New returns a classifier trying rules in order before the defaults.
func New(rules []Rule) *Classifier {
	return &Classifier{rules: rules}
}

// Level returns the severity of lr, a normalized record from source, and
// the index of the user rule that decided it (-1 for the defaults).
func (c *Classifier) Level(source string, lr plog.LogRecord) (severity.Level, int) {
	for i, r := range c.rules {
		if r.matches(source, lr) {
			return r.Level, i
		}
	}
	return Default(source, lr), -1
}

// Apply sets lr's severity number and text.
func (c *Classifier) Apply(source string, lr plog.LogRecord) {
	l, _ := c.Level(source, lr)
	severity.Set(lr, l)
}

// GlassixAlarmingWords are the words (case-insensitive) of the Glassix
// event types that default to warning: failures and lockouts.
var GlassixAlarmingWords = []string{"fail", "denied", "blocked", "rejected", "invalid", "unauthorized", "unauthorised", "lockout"}

// GlassixAlarming reports whether a Glassix event type defaults to warning:
// it holds one of GlassixAlarmingWords, or "Locked" as a word of its
// PascalCase name ("UserLocked", "AccountLockedOut"; not "UserUnlocked").
func GlassixAlarming(eventType string) bool {
	lower := strings.ToLower(eventType)
	for _, w := range GlassixAlarmingWords {
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

// SippyWarning and SippyNotice are Sippy's default levels by action code;
// every other code is info.
var (
	SippyWarning = map[string]bool{"AUTH_FAIL": true, "MFA_FAIL": true}
	SippyNotice  = map[string]bool{
		"OTP_RST": true, "PSWD_CHNG": true, "MFA_RST": true, "MFA_RSTUSR": true, // password, OTP and MFA resets
		"D":          true, // deletes
		"FW_OPEN80":  true, // firewall
		"SSLCRT_ISS": true, // certificates
	}
)

// Default is the built-in classification (tabled in the README):
//
//   - A record flagged with audit.parse_error: at least warning, so records
//     the collector could not read are looked at.
//   - Glassix: failures and lockouts (GlassixAlarming on the type) warning;
//     logType Security notice; the rest (Informative) info.
//   - CTReplay: its own level (unknown or missing: info), raised to at least
//     notice for deletions and recording downloads.
//   - Sippy: SippyWarning codes warning, SippyNotice codes notice, the rest
//     info.
func Default(source string, lr plog.LogRecord) severity.Level {
	attrs := lr.Attributes()
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	// The event name, or the action normalize found where a record came
	// without one.
	action := lr.EventName()
	if action == "" {
		action = str(auditrecord.AttrAction)
	}
	l := severity.Info
	switch source {
	case auditrecord.SourceGlassix:
		switch {
		case GlassixAlarming(action):
			l = severity.Warning
		case str(auditrecord.AttrCategory) == auditrecord.CategorySecurity:
			l = severity.Notice
		}
	case auditrecord.SourceCTReplay:
		if own, err := severity.Parse(str(ctreplay.FieldLevel)); err == nil {
			l = own
		}
		verb, object := normalize.SplitCTReplayAction(action)
		if verb == "DELETE" || (verb == "DOWNLOAD" && object == "Recording") {
			l = min(l, severity.Notice) // lower is more severe
		}
	case auditrecord.SourceSippy:
		switch code := action; {
		case SippyWarning[code]:
			l = severity.Warning
		case SippyNotice[code]:
			l = severity.Notice
		}
	}
	if _, flagged := attrs.Get(auditrecord.AttrParseError); flagged {
		l = min(l, severity.Warning)
	}
	return l
}
