// Package loadgen posts Glassix audit-log webhooks to a collector from
// concurrent keep-alive clients and measures how fast and how quickly they
// are acknowledged.
package loadgen // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Glassix signs with HMAC-SHA1; the harness must too.
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// The two samples of the Glassix audit-log documentation (seed 000), in the
// vendor's field order. Every event the generator sends is one of them with
// a unique log id and the current time.
type glassixUser struct {
	ID             string `json:"id"`
	Gender         string `json:"gender"`
	UserName       string `json:"UserName"`
	Culture        string `json:"culture"`
	IsAnonymous    bool   `json:"isAnonymous"`
	UniqueArgument string `json:"uniqueArgument"`
	Type           string `json:"type"`
}

type glassixLog struct {
	ID            string       `json:"id"`
	DateTime      string       `json:"dateTime"`
	DepartmentID  string       `json:"departmentId"`
	InitiatorUser *glassixUser `json:"initiatorUser,omitempty"`
	TargetUser    *glassixUser `json:"targetUser,omitempty"`
	IPAddress     string       `json:"ipAddress"`
	Message       string       `json:"message"`
	Type          string       `json:"type"`
	LogType       string       `json:"logType"`
}

type glassixChange struct {
	Event string     `json:"_event"`
	Log   glassixLog `json:"log"`
}

const (
	department = "9200c94a-13d7-4397-a52c-1728fc6bb670"
	idToken    = "@@ID@@"
	timeToken  = "@@TIME@@"
)

var samples = []glassixChange{
	{Event: "AUDIT_LOGS", Log: glassixLog{
		ID: idToken, DateTime: timeToken, DepartmentID: department,
		InitiatorUser: &glassixUser{
			ID: "aca76a89-8950-4424-b727-2f277c24a891", Gender: "Male", UserName: "[email protected]",
			Culture: "en-US", Type: "AGENT",
		},
		IPAddress: "212.199.97.210",
		Message:   "[email protected] changed chatbot mappings",
		Type:      "ChatbotMappingsChange",
		LogType:   "Informative",
	}},
	{Event: "AUDIT_LOGS", Log: glassixLog{
		ID: idToken, DateTime: timeToken, DepartmentID: department,
		InitiatorUser: &glassixUser{
			ID: "aca76a89-8950-4424-b727-2f277c24a891", Gender: "Male", UserName: "[email protected]",
			Culture: "en-US", Type: "AGENT",
		},
		TargetUser: &glassixUser{
			ID: "2bab1a91-b203-4127-a546-8636165e873a", Gender: "Male", UserName: "[email protected]",
			Culture: "en-US", Type: "AGENT",
		},
		IPAddress: "212.199.97.210",
		Message:   "[email protected] removed by [email protected]",
		Type:      "UserRemoved",
		LogType:   "Security",
	}},
}

// eventTemplate is a sample's JSON cut around its id and time.
type eventTemplate struct {
	beforeID, beforeTime, rest []byte
}

func mustTemplate(change glassixChange) eventTemplate {
	raw, err := json.Marshal(change)
	if err != nil {
		panic(err)
	}
	id := bytes.Index(raw, []byte(idToken))
	tm := bytes.Index(raw, []byte(timeToken))
	if id < 0 || tm < id {
		panic("loadgen: sample template lost its placeholders")
	}
	return eventTemplate{
		beforeID:   raw[:id],
		beforeTime: raw[id+len(idToken) : tm],
		rest:       raw[tm+len(timeToken):],
	}
}

var templates = func() []eventTemplate {
	t := make([]eventTemplate, len(samples))
	for i, s := range samples {
		t[i] = mustTemplate(s)
	}
	return t
}()

// GlassixTimeLayout is Glassix's dateTime: UTC with 7 fractional digits.
const GlassixTimeLayout = "2006-01-02T15:04:05.0000000Z"

// Payloads builds webhook bodies of a fixed number of events, numbering the
// events of a run from 0. It is safe for concurrent use.
type Payloads struct {
	scheme  loadid.Scheme
	perBody int
	next    atomic.Uint64
}

// NewPayloads builds bodies of eventsPerBody events with ids of scheme.
func NewPayloads(scheme loadid.Scheme, eventsPerBody int) *Payloads {
	return &Payloads{scheme: scheme, perBody: eventsPerBody}
}

// EventsPerBody is the number of events in each body.
func (p *Payloads) EventsPerBody() int { return p.perBody }

// Build appends the next body to dst[:0] and returns it with the sequence
// number of its first event; the others follow in order.
func (p *Payloads) Build(dst []byte, now time.Time) (body []byte, first uint64) {
	first = p.next.Add(uint64(p.perBody)) - uint64(p.perBody)
	stamp := now.UTC().AppendFormat(make([]byte, 0, 32), GlassixTimeLayout)
	body = append(dst[:0], `{"key":"`+department+`","dateTime":"`...)
	body = append(body, stamp...)
	body = append(body, `","changes":[`...)
	for i := range p.perBody {
		seq := first + uint64(i)
		if i > 0 {
			body = append(body, ',')
		}
		t := templates[seq%uint64(len(templates))] // Informative, Security, ...
		body = append(body, t.beforeID...)
		body = p.scheme.Append(body, seq)
		body = append(body, t.beforeTime...)
		body = append(body, stamp...)
		body = append(body, t.rest...)
	}
	return append(body, "]}"...), first
}

// Sign returns the X-Hub-Signature header value Glassix sends: "sha1=" and
// the hex HMAC-SHA1 of the raw body keyed with the webhook secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}
