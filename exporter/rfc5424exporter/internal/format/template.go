package format

import (
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// DefaultTemplate is the vendor's own MSG layout (seed 000): "RoleRemoved:
// <email> removed role ...".
const DefaultTemplate = "{event_name}: {body}"

// Placeholders a template may use.
const (
	PlaceholderEventName = "event_name"
	PlaceholderBody      = "body"
	PlaceholderSource    = "source"
	PlaceholderSeverity  = "severity"
)

// Template is a parsed message template: literal text and placeholders.
type Template struct {
	parts []part
}

type part struct {
	literal     string
	placeholder string // empty for a literal
}

var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

// ParseTemplate reads a template. {event_name}, {body}, {source} and
// {severity} are replaced by the record's event name, body (maps and lists
// as JSON), source (APP-NAME) and syslog severity keyword; any other
// {lower_case} word is an error, and all other text is literal. Literal
// text between two placeholders is a separator: it is written only between
// two non-empty values, so "{event_name}: {body}" gives just the body for a
// record without an event name, and "{a}: {b}: {c}" with b empty gives
// "a: c". Text before the first and after the last placeholder is always
// written. An {event_name} directly followed by {body} is left out when the
// body already begins with the event name as a whole word (CTReplay's body
// is "<action> <params>"), so the message does not say it twice.
func ParseTemplate(s string) (Template, error) {
	var t Template
	last := 0
	for _, loc := range placeholderRE.FindAllStringIndex(s, -1) {
		name := s[loc[0]+1 : loc[1]-1]
		switch name {
		case PlaceholderEventName, PlaceholderBody, PlaceholderSource, PlaceholderSeverity:
		default:
			return Template{}, fmt.Errorf("message_template: unknown placeholder {%s}: want {%s}, {%s}, {%s} or {%s}",
				name, PlaceholderEventName, PlaceholderBody, PlaceholderSource, PlaceholderSeverity)
		}
		if loc[0] > last {
			t.parts = append(t.parts, part{literal: s[last:loc[0]]})
		}
		t.parts = append(t.parts, part{placeholder: name})
		last = loc[1]
	}
	if last < len(s) {
		t.parts = append(t.parts, part{literal: s[last:]})
	}
	return t, nil
}

func (f *Formatter) appendMsg(dst []byte, res pcommon.Resource, rec plog.LogRecord) []byte {
	var pending string // the separator before the next placeholder
	wroteValue := false
	for i, p := range f.tmpl.parts {
		if p.placeholder == "" {
			between := i > 0 && i+1 < len(f.tmpl.parts) && f.tmpl.parts[i-1].placeholder != ""
			if between {
				pending = p.literal
			} else {
				dst = f.appendMsgText(dst, p.literal)
			}
			continue
		}
		mark := len(dst)
		if wroteValue {
			dst = f.appendMsgText(dst, pending)
		}
		pending = ""
		valueStart := len(dst)
		switch p.placeholder {
		case PlaceholderEventName:
			if name := rec.EventName(); !f.bodyFollowsWith(i, rec.Body(), name) {
				dst = f.appendMsgText(dst, name)
			}
		case PlaceholderBody:
			if b := rec.Body(); b.Type() == pcommon.ValueTypeStr {
				dst = f.appendMsgText(dst, b.Str())
			} else if b.Type() != pcommon.ValueTypeEmpty {
				dst = f.appendMsgText(dst, b.AsString())
			}
		case PlaceholderSource:
			app := f.appName
			if app == "" {
				app = sourceOf(res)
			}
			dst = f.appendMsgText(dst, app)
		case PlaceholderSeverity:
			dst = f.appendMsgText(dst, severityOf(rec).String())
		}
		if len(dst) == valueStart {
			dst = dst[:mark] // an empty value takes its separator with it
		} else {
			wroteValue = true
		}
	}
	return dst
}

// bodyFollowsWith reports whether the placeholder after part i is {body} and
// body begins with the word name.
func (f *Formatter) bodyFollowsWith(i int, body pcommon.Value, name string) bool {
	j := i + 1
	if j < len(f.tmpl.parts) && f.tmpl.parts[j].placeholder == "" {
		j++
	}
	if name == "" || j >= len(f.tmpl.parts) || f.tmpl.parts[j].placeholder != PlaceholderBody || body.Type() != pcommon.ValueTypeStr {
		return false
	}
	b := body.Str()
	return strings.HasPrefix(b, name) && (len(b) == len(name) || b[len(name)] == ' ')
}
