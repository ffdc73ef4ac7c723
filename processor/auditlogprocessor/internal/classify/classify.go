// Package classify decides a normalized audit record's syslog severity:
// the user's rules first, in their order, the first match winning; then the
// built-in defaults per vendor (internal/vendors). The level is stored on the record with
// internal/severity, the one OTel <-> syslog mapping.
package classify // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/classify"

import (
	"regexp"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"
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

// Default is the built-in classification (tabled in the README): the
// vendor's own default (vendors.Vendor.DefaultLevel: Glassix failures and
// lockouts warning, logType Security notice; CTReplay its own level, raised
// to at least notice for deletions and recording downloads; Sippy by action
// code), info for a source no vendor answers to, and then at least warning
// for a record flagged with audit.parse_error, so records the collector
// could not read are looked at.
func Default(source string, lr plog.LogRecord) severity.Level {
	attrs := lr.Attributes()
	// The event name, or the action normalize found where a record came
	// without one.
	action := lr.EventName()
	if action == "" {
		if v, ok := attrs.Get(auditrecord.AttrAction); ok {
			action = v.AsString()
		}
	}
	l := severity.Info
	if v, ok := registry.Lookup(source); ok {
		l = v.DefaultLevel(lr, action)
	}
	if _, flagged := attrs.Get(auditrecord.AttrParseError); flagged {
		l = min(l, severity.Warning)
	}
	return l
}
