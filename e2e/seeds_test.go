//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// sdID is the rfc5424 exporter's default SD-ID for the record's attributes.
const sdID = "data"

// anyEventHash stands for a content-hash event id (CTReplay, Sippy) in an
// expected parameter list: the value must look like one, and be the same
// in the archive.
const anyEventHash = "<sha256 event id>"

var eventHash = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// seedEvent is one seed event as the SIEM and the archive must hold it.
type seedEvent struct {
	name string
	// pri is facility local4 (20) * 8 + the syslog severity.
	pri int
	// time is the syslog TIMESTAMP (6 digits, truncated) and archiveTime
	// the archive's (all 9 digits); both empty: the record has no event
	// time, and the message carries the receipt time.
	time, archiveTime string
	app, msgID        string
	// params are the SD-PARAMs of the "data" element, in order.
	params [][2]string
	msg    string
	// severity is the archive's severity_number and severity_text.
	severityNumber int
	severityText   string
	// body is the archive's message: the record's body.
	body string
}

const (
	glassixKey    = "9200c94a-13d7-4397-a52c-1728fc6bb670"
	glassixAgent  = "aca76a89-8950-4424-b727-2f277c24a891"
	glassixTarget = "2bab1a91-b203-4127-a546-8636165e873a"
	// The samples' user names: the agent who acts, the user acted on.
	glassixUser       = "admin@example.com"
	glassixTargetUser = "john@example.com"
)

var glassixUserParams = func(prefix, id, name string) [][2]string {
	return [][2]string{
		{prefix + "_id", id}, {prefix + "_gender", "Male"}, {prefix + "_UserName", name},
		{prefix + "_culture", "en-US"}, {prefix + "_isAnonymous", "false"}, {prefix + "_uniqueArgument", ""},
		{prefix + "_type", "AGENT"},
	}
}

func concat(parts ...[][2]string) [][2]string {
	var out [][2]string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The seed samples (seed 000 Glassix, seed 001 CTReplay, seed 002 Sippy) in
// the order they are posted. Values follow the receiver's record mapping,
// the processor's normalization and classification tables and the rfc5424
// exporter's message format (their READMEs).
var seedEvents = []seedEvent{
	{
		name: "glassix security UserRemoved",
		pri:  20*8 + 5, // notice: logType Security
		time: "2024-01-11T09:18:32.745235Z", archiveTime: "2024-01-11T09:18:32.745235800Z",
		app: "glassix", msgID: "UserRemoved",
		params: concat(
			[][2]string{{"id", "cb20ff99-25bb-400c-a8cd-9052fc5f6d3f"}, {"dateTime", "2024-01-11T09:18:32.7452358Z"}, {"departmentId", glassixKey}},
			glassixUserParams("initiatorUser", glassixAgent, glassixUser),
			glassixUserParams("targetUser", glassixTarget, glassixTargetUser),
			[][2]string{
				{"ipAddress", "212.199.97.210"}, {"message", glassixTargetUser + " removed by " + glassixUser},
				{"type", "UserRemoved"}, {"logType", "Security"},
				{"glassix.key", glassixKey}, {"glassix.envelope_dateTime", "2024-01-11T09:18:32.7608826Z"},
				{"audit.event_id", "cb20ff99-25bb-400c-a8cd-9052fc5f6d3f"}, {"audit.actor", glassixUser},
				{"audit.actor_id", glassixAgent}, {"audit.target", glassixTargetUser},
				{"audit.client_address", "212.199.97.210"}, {"audit.action", "UserRemoved"},
				{"audit.outcome", "success"}, {"audit.category", "security"},
			}),
		msg:            "UserRemoved: " + glassixTargetUser + " removed by " + glassixUser,
		severityNumber: 10, severityText: "notice",
		body: glassixTargetUser + " removed by " + glassixUser,
	},
	{
		name: "glassix informative ChatbotMappingsChange",
		pri:  20*8 + 6, // info: logType Informative
		time: "2024-01-07T12:23:16.796522Z", archiveTime: "2024-01-07T12:23:16.796522900Z",
		app: "glassix", msgID: "ChatbotMappingsChange",
		params: concat(
			[][2]string{{"id", "8e548273-0418-4e7b-acd6-c79f7d31e3ec"}, {"dateTime", "2024-01-07T12:23:16.7965229Z"}, {"departmentId", glassixKey}},
			glassixUserParams("initiatorUser", glassixAgent, glassixUser),
			[][2]string{
				{"ipAddress", "212.199.97.210"}, {"message", glassixUser + " changed chatbot mappings"},
				{"type", "ChatbotMappingsChange"}, {"logType", "Informative"},
				{"glassix.key", glassixKey}, {"glassix.envelope_dateTime", "2024-01-07T12:23:16.9159993Z"},
				{"audit.event_id", "8e548273-0418-4e7b-acd6-c79f7d31e3ec"}, {"audit.actor", glassixUser},
				{"audit.actor_id", glassixAgent},
				{"audit.client_address", "212.199.97.210"}, {"audit.action", "ChatbotMappingsChange"},
				{"audit.outcome", "success"}, {"audit.category", "informative"},
			}),
		msg:            "ChatbotMappingsChange: " + glassixUser + " changed chatbot mappings",
		severityNumber: 9, severityText: "info",
		body: glassixUser + " changed chatbot mappings",
	},
	{
		name: "ctreplay GET ALL Profile",
		pri:  20*8 + 6, // its own level, info
		time: "2021-01-08T12:44:30.479000Z", archiveTime: "2021-01-08T12:44:30.479000000Z",
		app: "ctreplay", msgID: "GET_ALL_Profile", // a space is not allowed in MSGID
		params: [][2]string{
			{"ts", "08/01/2021 - 12:44:30.479"}, {"domain", "SAASFCL"}, {"userID", "admin"}, {"ipAddress", "::1"},
			{"action", "GET ALL Profile"}, {"params", ""}, {"level", "info"},
			{"audit.event_id", anyEventHash}, {"audit.actor", "admin"}, {"audit.actor_id", "admin"},
			{"audit.target", "Profile"}, {"audit.client_address", "::1"}, {"audit.action", "GET ALL Profile"},
			{"audit.outcome", "success"}, {"audit.category", "informative"},
			{"ctreplay.verb", "GET ALL"}, {"ctreplay.object", "Profile"},
		},
		msg:            "GET ALL Profile", // the body already starts with the event name
		severityNumber: 9, severityText: "info",
		body: "GET ALL Profile",
	},
	{
		// The seed's second line is cut short: kept, flagged, raw.
		name: "ctreplay truncated line",
		pri:  20*8 + 4, // warning: a flagged record
		app:  "ctreplay", msgID: "",
		params: [][2]string{
			{"audit.parse_error", "line 2, column 101: unterminated string: the line ends inside it"},
			{"audit.parse_line", "2"},
			{"audit.event_id", anyEventHash},
			// Nothing could be read: outcome unknown, and a security
			// matter, so views of security events keep it.
			{"audit.outcome", "unknown"},
			{"audit.category", "security"},
		},
		msg:            `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`,
		severityNumber: 13, severityText: "warning",
		body: `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`,
	},
	{
		name: "sippy U (update a record)",
		pri:  20*8 + 6,
		time: "2009-11-18T09:57:29.000000Z", archiveTime: "2009-11-18T09:57:29.000000000Z",
		app: "sippy", msgID: "U",
		params: [][2]string{
			{"resource", "accounts:i_account=5:balance=10"}, {"action", "U"}, {"action_by", "u:1:3726:main_admin"},
			{"date", "09:57:29.000 GMT Wed Nov 18 2009"}, {"user_ip", "192.0.2.10"},
			{"audit.event_id", anyEventHash}, {"audit.actor", "main_admin"}, {"audit.actor_id", "u:1:3726"},
			{"audit.target", "accounts:i_account=5"}, {"audit.client_address", "192.0.2.10"}, {"audit.action", "U"},
			{"audit.outcome", "success"}, {"audit.category", "informative"},
			{"sippy.action_description", "Update a record"}, {"sippy.actor_kind", "web_user"},
			{"sippy.actor_entity_id", "1"}, {"sippy.actor_sub_id", "3726"}, {"sippy.resource_table", "accounts"},
			{"sippy.resource_keys_i_account", "5"}, {"sippy.resource_fields_balance", "10"},
		},
		msg:            "U accounts:i_account=5:balance=10",
		severityNumber: 9, severityText: "info",
		body: "U accounts:i_account=5:balance=10",
	},
	{
		name: "sippy AUTH_FAIL by a vendor whose name has a quote",
		pri:  20*8 + 4, // warning
		time: "2009-11-18T09:58:00.000000Z", archiveTime: "2009-11-18T09:58:00.000000000Z",
		app: "sippy", msgID: "AUTH_FAIL",
		params: [][2]string{
			{"resource", "vendor:username=acme"}, {"action", "AUTH_FAIL"}, {"action_by", "v:105532:0:1743624'22"},
			{"date", "2009-11-18T09:58:00Z"}, {"user_ip", "node-7"},
			{"audit.event_id", anyEventHash}, {"audit.actor", "1743624'22"}, {"audit.actor_id", "v:105532:0"},
			{"audit.target", "vendor:username=acme"}, {"audit.client_address", "node-7"}, {"audit.action", "AUTH_FAIL"},
			{"audit.outcome", "failure"}, {"audit.category", "security"},
			{"sippy.action_description", "Bad auth"}, {"sippy.actor_kind", "vendor"},
			{"sippy.actor_entity_id", "105532"}, {"sippy.actor_sub_id", "0"}, {"sippy.resource_entity", "vendor"},
			{"sippy.resource_keys_username", "acme"},
		},
		msg:            "AUTH_FAIL vendor:username=acme",
		severityNumber: 13, severityText: "warning",
		body: "AUTH_FAIL vendor:username=acme",
	},
	{
		name: "sippy FUNDS by a trusted XMLAPI call",
		pri:  20*8 + 6,
		time: "2009-11-18T09:59:00.000000Z", archiveTime: "2009-11-18T09:59:00.000000000Z",
		app: "sippy", msgID: "FUNDS",
		params: [][2]string{
			{"resource", "add:i_account=7:amount=10.5"}, {"action", "FUNDS"}, {"action_by", "t:0:0:2.2.2.2"},
			{"date", "2009-11-18 09:59:00"}, {"user_ip", "2.2.2.2"},
			{"audit.event_id", anyEventHash}, {"audit.actor", "2.2.2.2"}, {"audit.actor_id", "t:0:0"},
			{"audit.target", "i_account=7"}, {"audit.client_address", "2.2.2.2"}, {"audit.action", "FUNDS"},
			{"audit.outcome", "success"}, {"audit.category", "informative"},
			{"sippy.action_description", "Add funds/Debit/Credit"}, {"sippy.actor_kind", "trusted_xmlapi"},
			{"sippy.actor_entity_id", "0"}, {"sippy.actor_sub_id", "0"}, {"sippy.resource_operation", "add"},
			{"sippy.resource_keys_i_account", "7"}, {"sippy.resource_fields_amount", "10.5"},
		},
		msg:            "FUNDS add:i_account=7:amount=10.5",
		severityNumber: 9, severityText: "info",
		body: "FUNDS add:i_account=7:amount=10.5",
	},
	{
		name: "sippy MFA_RST with an offset and nanoseconds",
		pri:  20*8 + 5, // notice: an MFA reset
		time: "2009-11-18T08:00:00.123456Z", archiveTime: "2009-11-18T08:00:00.123456789Z",
		app: "sippy", msgID: "MFA_RST",
		params: [][2]string{
			{"resource", "system"}, {"action", "MFA_RST"}, {"action_by", "c:1:0:000123"},
			{"date", "2009-11-18T10:00:00.123456789+02:00"}, {"user_ip", "198.51.100.7"},
			{"audit.event_id", anyEventHash}, {"audit.actor", "000123"}, {"audit.actor_id", "c:1:0"},
			{"audit.target", "system"}, {"audit.client_address", "198.51.100.7"}, {"audit.action", "MFA_RST"},
			{"audit.outcome", "success"}, {"audit.category", "security"},
			{"sippy.action_description", "Reset MFA configs, tokens and validations for ALL users"},
			{"sippy.actor_kind", "customer"}, {"sippy.actor_entity_id", "1"}, {"sippy.actor_sub_id", "0"},
			{"sippy.resource_entity", "system"},
		},
		msg:            "MFA_RST system",
		severityNumber: 10, severityText: "notice",
		body: "MFA_RST system",
	},
}

// TestSeedSamplesReachTheSIEMAndTheArchive posts every vendor's seed
// samples to the built collector running the shipped config, and checks
// every field rsyslog parsed from each message, every archive line, and
// the archive's chain.
func TestSeedSamplesReachTheSIEMAndTheArchive(t *testing.T) {
	const secret = "e2e-glassix-secret"
	siem := syslogtest.Start(t, syslogtest.Rsyslog, syslogtest.Config{Transport: syslogtest.TCP, Framing: syslogtest.OctetCounting})
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Secret: secret})
	c.start()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()

	testdata := func(name string) []byte {
		b, err := os.ReadFile(repoFile(t, "receiver/auditwebhookreceiver/testdata/"+name))
		require.NoError(t, err)
		return b
	}
	requests := []struct {
		path    string
		body    []byte
		headers []string
		answer  string
	}{
		{"/glassix", testdata("glassix_security.json"), nil, `{"accepted":1,"parsed":1,"flagged":0,"dropped":0,"skipped":0}`},
		{"/glassix", testdata("glassix_informative.json"), nil, `{"accepted":1,"parsed":1,"flagged":0,"dropped":0,"skipped":0}`},
		{"/ctreplay", testdata("ctreplay_seed.jsonl"), nil, `{"accepted":2,"parsed":1,"flagged":1,"dropped":0,"skipped":0,` +
			`"errors":[{"event":2,"line":2,"error":"line 2, column 101: unterminated string: the line ends inside it"}]}`},
		{"/sippy", mustRead(t, "testdata/sippy_seed.jsonl"), []string{"Content-Type", "application/x-ndjson"},
			`{"accepted":4,"parsed":4,"flagged":0,"dropped":0,"skipped":0}`},
	}
	for _, r := range requests {
		headers := r.headers
		if r.path == "/glassix" { // signed as Glassix signs
			headers = append(headers, "X-Hub-Signature", loadgen.Sign([]byte(secret), r.body))
		}
		a := post(t, client, c.url(r.path), r.body, headers...)
		require.Equal(t, http.StatusOK, a.status, "%s: %s", r.path, a.body)
		assert.JSONEq(t, r.answer, a.body, r.path)
	}

	got := vendorMessages(t, siem, len(seedEvents))
	require.Len(t, got, len(seedEvents), "one message per event, no more")
	requireViewerShows(t, c, len(seedEvents))
	c.stop() // drains the archive's queue
	events := archiveEvents(t, c.archive)
	require.Len(t, events, len(seedEvents), "one archive line per event")
	hostname, err := os.Hostname()
	require.NoError(t, err)

	for i, want := range seedEvents {
		t.Run(want.name, func(t *testing.T) {
			m := got[i] // one queue consumer: in the order posted
			eventID := m.StructuredData[sdID]["audit.event_id"]
			ev, ok := events[eventID]
			require.True(t, ok, "no archive line with audit.event_id %q", eventID)

			assert.Equal(t, want.pri, m.Priority, "PRI")
			wantTime := want.time
			if wantTime == "" { // no event time: the receipt time
				wantTime = ev.Observed.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
			}
			assert.Equal(t, wantTime, m.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z"), "TIMESTAMP")
			assert.Equal(t, hostname, m.Hostname, "HOSTNAME: the machine's, by default")
			assert.Equal(t, want.app, m.AppName, "APP-NAME")
			assert.Empty(t, m.ProcID, "PROCID")
			assert.Equal(t, want.msgID, m.MsgID, "MSGID")
			assert.Equal(t, []string{sdID}, keys(m.ParamOrder), "one SD element")
			assert.Equal(t, want.params, orderedParams(m), "SD-PARAMs, in order")
			assert.Equal(t, want.msg, m.Message, "MSG")

			// The archive line: the same event, the vendor's fields typed.
			wantArchiveTime := time.Time{}
			if want.archiveTime != "" {
				wantArchiveTime, err = time.Parse(time.RFC3339Nano, want.archiveTime)
				require.NoError(t, err)
			}
			assert.True(t, wantArchiveTime.Equal(ev.Time), "time: got %s, want %s", ev.Time, want.archiveTime)
			assert.Equal(t, want.app, ev.Source)
			assert.Equal(t, want.severityNumber, ev.SeverityNumber)
			assert.Equal(t, want.severityText, ev.SeverityText)
			assert.Equal(t, want.body, ev.Message)
			assert.Equal(t, map[string]any{"audit.source": want.app, "service.name": want.app}, ev.Resource)
			assert.Equal(t, paramMap(want.params, eventID), stringValues(ev.Attributes),
				"the archive's attributes are the SIEM's parameters")
		})
	}
	requireVerified(t, c.archive)
}

// requireViewerShows checks the shipped config's audit viewer: behind its
// password, it lists the archive's n events, each with its integrity
// check passed.
func requireViewerShows(t testing.TB, c *collector, n int) {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	get := func(user, password string) (*http.Response, []byte) {
		// The vendors' events: the viewer's own audit trail is archived too.
		req, err := http.NewRequest(http.MethodGet, "http://"+c.viewer+"/api/events?limit=100&source=glassix,ctreplay,sippy", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	resp, _ := get("", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the viewer without a password")
	resp, _ = get("auditor", "wrong")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the viewer with a wrong password")

	var page struct {
		Rows []struct {
			Source    string `json:"source"`
			Kind      string `json:"kind"`
			Integrity string `json:"integrity"`
		} `json:"rows"`
		Total int `json:"total"`
	}
	require.Eventually(t, func() bool { // the archive's queue batches
		resp, body := get("auditor", viewerPassword)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &page) == nil && page.Total == n
	}, time.Minute, 100*time.Millisecond, "the viewer lists %d events", n)
	require.Len(t, page.Rows, n)
	for _, r := range page.Rows {
		assert.Equal(t, "event", r.Kind)
		assert.Equal(t, "ok", r.Integrity)
		assert.Contains(t, []string{"glassix", "ctreplay", "sippy"}, r.Source)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// vendorMessages waits until the SIEM holds n messages from the vendors'
// events and returns them, leaving out the collector's own (APP-NAME
// otelcol-audit: checkpoints, the viewer's audit trail).
func vendorMessages(t testing.TB, siem *syslogtest.Server, n int) []syslogtest.Message {
	t.Helper()
	var got []syslogtest.Message
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, m := range siem.Messages() {
			if m.AppName != selfaudit.Source {
				got = append(got, m)
			}
		}
		return len(got) >= n
	}, time.Minute, 50*time.Millisecond, "%d vendor messages at the SIEM", n)
	return got
}

// archiveEvents reads every event of a finished archive, by audit.event_id.
func archiveEvents(t testing.TB, path string) map[string]archive.Event {
	t.Helper()
	a, err := archive.Open(path)
	require.NoError(t, err)
	out := map[string]archive.Event{}
	for e, err := range a.Entries() {
		require.NoError(t, err)
		require.Equal(t, archive.StatusOK, e.Status, "%s:%d: %v", e.File, e.Line, e.Err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.IsMarker() || ev.Source == selfaudit.Source {
			continue
		}
		id, _ := ev.Attributes["audit.event_id"].(string)
		require.NotContains(t, out, id, "two archive lines with audit.event_id %q", id)
		out[id] = ev
	}
	return out
}

// orderedParams is the message's "data" element as name-value pairs in
// wire order, a content-hash event id replaced by anyEventHash.
func orderedParams(m syslogtest.Message) [][2]string {
	var out [][2]string
	for _, name := range m.ParamOrder[sdID] {
		v := m.StructuredData[sdID][name]
		if name == "audit.event_id" && eventHash.MatchString(v) {
			v = anyEventHash
		}
		out = append(out, [2]string{name, v})
	}
	return out
}

func paramMap(params [][2]string, eventID string) map[string]string {
	out := map[string]string{}
	for _, p := range params {
		if p[1] == anyEventHash {
			p[1] = eventID
		}
		out[p[0]] = p[1]
	}
	return out
}

func stringValues(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
