package auditlogprocessor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/testutil"
)

const (
	metricDuplicates  = "otelcol_processor_auditlog_duplicates_dropped"
	metricParseErrors = "otelcol_processor_auditlog_parse_errors"
)

// The webhook form of the event in seed 000's syslog example: the log
// object, nested, as the auditwebhook receiver passes it on.
const glassixRoleRemoved = `{"id":"ad681bbc-9608-4a2a-a283-717011f35c35","dateTime":"2024-01-15T11:19:07.7935597Z",` +
	`"departmentId":"95b4ae47-a872-4dd5-920d-7b01d64288ad",` +
	`"initiatorUser":{"id":"f4d56da7-f39f-4741-8c84-4b5b34e40ad3","gender":"Undefined","UserName":"[email protected]","culture":"en-US","isAnonymous":false,"uniqueArgument":"","type":"AGENT"},` +
	`"targetUser":{"id":"2563e94e-f68e-4cf8-b13b-17cfc95c437d","gender":"Undefined","UserName":"[email protected]","culture":"en-US","isAnonymous":true,"uniqueArgument":"","type":"AGENT"},` +
	`"ipAddress":"212.199.97.210","message":"[email protected] removed role SystemUser from [email protected]","type":"RoleRemoved","logType":"Security"}`

// seedEmail is how the seed spells every e-mail address (its web page
// obfuscated them), with a no-break space.
const seedEmail = "[email\u00a0protected]"

func roleRemoved() vendorEvent {
	return vendorEvent{
		name: "RoleRemoved", body: seedEmail + " removed role SystemUser from " + seedEmail,
		json: strings.ReplaceAll(glassixRoleRemoved, "[email protected]", seedEmail),
		ts:   time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC),
	}
}

// seedSDParams returns the SD-PARAMs of seed 000's syslog example, in order,
// as name="value" strings.
func seedSDParams(t *testing.T) []string {
	raw, err := os.ReadFile(filepath.Join("testdata", "glassix_syslog_example.txt"))
	require.NoError(t, err)
	// The SD-ELEMENT runs from "[data " to the last `"]`; values hold
	// brackets ("[email protected]") but no quotes.
	start, end := strings.Index(string(raw), "[data "), strings.LastIndex(string(raw), `"]`)
	require.True(t, start >= 0 && end > start)
	var out []string
	for _, m := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllSubmatch(raw[start:end+1], -1) {
		out = append(out, string(m[1])+"="+string(m[2]))
	}
	require.Len(t, out, 21)
	return out
}

func TestGlassixFlattenedNamesAreTheSeedsSyslogExample(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	recs := h.records()
	require.Len(t, recs, 1)
	var got []string
	recs[0].Attributes().Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, "audit.") {
			got = append(got, k+"="+v.AsString())
		}
		return true
	})
	assert.Equal(t, seedSDParams(t), got, "the vendor fields, flattened, are exactly the seed's SD-PARAMs in order")
}

func TestGlassixNormalizedAndClassified(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	r := h.records()[0]
	for k, want := range map[string]string{
		"audit.event_id":       "ad681bbc-9608-4a2a-a283-717011f35c35",
		"audit.actor":          seedEmail,
		"audit.actor_id":       "f4d56da7-f39f-4741-8c84-4b5b34e40ad3",
		"audit.target":         seedEmail,
		"audit.client_address": "212.199.97.210",
		"audit.action":         "RoleRemoved",
		"audit.outcome":        "success",
		"audit.category":       "security",
		"audit.parse_error":    "<absent>",
	} {
		assert.Equal(t, want, r.attr(k), k)
	}
	assert.Equal(t, plog.SeverityNumberInfo2, r.SeverityNumber(), "Security is notice")
	assert.Equal(t, "notice", r.SeverityText())
	assert.Equal(t, "RoleRemoved", r.EventName(), "the contract's fields are kept")
	assert.Equal(t, time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC), r.Timestamp().AsTime())
}

const seedCTReplayLine = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`

func TestCTReplayTextBecomesTheContract(t *testing.T) {
	tests := []struct {
		name          string
		record        func(plog.LogRecord)
		wantTransport []string
	}{
		{"filelog line", fileLine(seedCTReplayLine), []string{"log.file.name=ctreplay.log"}},
		{"syslog message", syslogLine(seedCTReplayLine), []string{"hostname=ctreplay-host", "appname=ctreplay", "proc_id=4242", "priority=134", "facility=16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Source = "ctreplay"
			h := start(t, cfg, nil, nil)
			ld := logsOf(textResource(tt.record))
			ld.ResourceLogs().At(0).Resource().Attributes().PutStr("host.name", "collector-1")
			require.NoError(t, h.consume(ld))
			recs := h.records()
			require.Len(t, recs, 1)
			r := recs[0]
			assert.Equal(t, map[string]any{"host.name": "collector-1", "audit.source": "ctreplay", "service.name": "ctreplay"}, r.res.Attributes().AsRaw())
			assert.Equal(t, "GET ALL Profile", r.EventName())
			assert.Equal(t, "GET ALL Profile", r.Body().Str())
			assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), r.Timestamp().AsTime())
			var keys []string
			r.Attributes().Range(func(k string, v pcommon.Value) bool {
				keys = append(keys, k+"="+v.AsString())
				return true
			})
			want := []string{"ts=08/01/2021 - 12:44:30.479", "domain=SAASFCL", "userID=admin", "ipAddress=::1", "action=GET ALL Profile", "params=", "level=info"}
			require.GreaterOrEqual(t, len(keys), len(want)+len(tt.wantTransport))
			assert.Equal(t, want, keys[:len(want)], "the JSON fields first, in order")
			assert.Equal(t, tt.wantTransport, keys[len(want):len(want)+len(tt.wantTransport)], "then the receiver's own, the consumed message left out")
			assert.Equal(t, "admin", r.attr("audit.actor"))
			assert.Equal(t, "Profile", r.attr("audit.target"))
			assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, r.attr("audit.event_id"))
			assert.Equal(t, "<absent>", r.attr("audit.parse_error"))
			assert.Equal(t, "info", r.SeverityText())
		})
	}
}

func TestSameCTReplayEventFromFileAndSyslogIsOneEvent(t *testing.T) {
	cfg := defaultConfig()
	cfg.Source = "ctreplay"
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(textResource(fileLine(seedCTReplayLine)))))
	require.NoError(t, h.consume(logsOf(textResource(syslogLine(seedCTReplayLine)))))
	assert.Len(t, h.records(), 1, "the id hashes the vendor's fields only")
	assert.Equal(t, int64(1), h.counter(metricDuplicates, "ctreplay"))
}

func TestBadCTReplayTextIsFlaggedNeverDropped(t *testing.T) {
	hostile := `{` + func() string {
		var b strings.Builder
		for i := 0; i < 5000; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":1`, i)
		}
		return b.String()
	}() + `}`
	tests := []struct {
		name      string
		record    func(plog.LogRecord)
		wantError string
		wantBody  string
	}{
		{"not JSON", fileLine("GET ALL Profile by admin"), "line is not a JSON object: column 1: expected a value, found 'G'", "GET ALL Profile by admin"},
		{"truncated (seed 001's second line)", fileLine(`{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`),
			"line is not a JSON object: column 101: unterminated string", `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`},
		{"empty line", fileLine(""), "line is not a JSON object: empty", ""},
		{"duplicated key", fileLine(`{"userID":"admin","action":"GET USERS","userID":"root"}`), `duplicate key "userID"`, `{"userID":"admin","action":"GET USERS","userID":"root"}`},
		{"hostile object", fileLine(hostile), "object has more than 256 members", hostile},
		{"body not text", func(r plog.LogRecord) { r.Body().SetEmptyMap().PutStr("a", "b") }, "no CTReplay JSON text", `{"a":"b"}`},
		{"missing fields", fileLine(`{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS","level":"info"}`), "missing field(s) userID, ipAddress", "GET USERS"},
		{"bad ts", fileLine(`{"ts":"yesterday","userID":"u","ipAddress":"::1","action":"SET tag"}`), `ts: cannot read "yesterday" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: bad date`, "SET tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Source = "ctreplay"
			h := start(t, cfg, nil, nil)
			require.NoError(t, h.consume(logsOf(textResource(tt.record, fileLine(seedCTReplayLine)))))
			recs := h.records()
			require.Len(t, recs, 2, "the bad record and the good one beside it both pass")
			assert.Contains(t, recs[0].attr("audit.parse_error"), tt.wantError)
			assert.Equal(t, tt.wantBody, recs[0].Body().AsString(), "the evidence is kept")
			assert.Equal(t, "ctreplay", recs[0].source())
			assert.Equal(t, "warning", recs[0].SeverityText(), "flagged records are at least warning")
			assert.Equal(t, "<absent>", recs[1].attr("audit.parse_error"))
			assert.Equal(t, "GET ALL Profile", recs[1].EventName())
			assert.Equal(t, int64(1), h.counter(metricParseErrors, "ctreplay"))
		})
	}
}

func TestSyslogMessageThatIsNotJSONKeepsTheMessage(t *testing.T) {
	cfg := defaultConfig()
	cfg.Source = "ctreplay"
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(textResource(syslogLine("not json")))))
	r := h.records()[0]
	assert.Contains(t, r.attr("audit.parse_error"), "line is not a JSON object")
	assert.Equal(t, "not json", r.attr("message"))
	assert.Equal(t, "<134>Jan  8 12:44:30 ctreplay-host ctreplay[4242]: not json", r.Body().Str())
	assert.Equal(t, "unknown", r.attr("audit.outcome"))
	assert.Equal(t, "security", r.attr("audit.category"))
}

func TestDetectionWithoutConfiguredSource(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	other := func(r plog.LogRecord) {
		r.Body().SetStr(`{"msg":"nginx started"}`)
		r.Attributes().PutStr("log.file.name", "nginx.log")
	}
	ld := logsOf(textResource(other, fileLine(seedCTReplayLine), fileLine("plain text"), syslogLine(seedCTReplayLine)))
	rl := ld.ResourceLogs().At(0)
	rl.Resource().Attributes().PutStr("host.name", "h1")
	rl.ScopeLogs().At(0).Scope().SetName("filelog")
	require.NoError(t, h.consume(ld))

	out := h.sink.AllLogs()[0]
	require.Equal(t, 2, out.ResourceLogs().Len(), "the resource was split: unknown records stay, CTReplay ones move to a labelled copy")
	unknown, ct := out.ResourceLogs().At(0), out.ResourceLogs().At(1)
	assert.Equal(t, map[string]any{"host.name": "h1"}, unknown.Resource().Attributes().AsRaw())
	assert.Equal(t, map[string]any{"host.name": "h1", "audit.source": "ctreplay", "service.name": "ctreplay"}, ct.Resource().Attributes().AsRaw())
	assert.Equal(t, "filelog", ct.ScopeLogs().At(0).Scope().Name())

	u := unknown.ScopeLogs().At(0).LogRecords()
	require.Equal(t, 2, u.Len())
	assert.Equal(t, `{"msg":"nginx started"}`, u.At(0).Body().Str())
	assert.Equal(t, map[string]any{"log.file.name": "nginx.log"}, u.At(0).Attributes().AsRaw(), "records of no known vendor are untouched")
	assert.Equal(t, plog.SeverityNumberUnspecified, u.At(0).SeverityNumber())
	assert.Equal(t, "plain text", u.At(1).Body().Str())

	c := ct.ScopeLogs().At(0).LogRecords()
	require.Equal(t, 1, c.Len(), "the syslog copy of the same event was a duplicate")
	assert.Equal(t, "GET ALL Profile", c.At(0).EventName())
}

func TestConfiguredSourceLabelsStructuredRecords(t *testing.T) {
	cfg := defaultConfig()
	cfg.Source = "sippy"
	h := start(t, cfg, nil, nil)
	rec := func(r plog.LogRecord) {
		r.SetEventName("AUTH_FAIL")
		r.Attributes().PutStr("action", "AUTH_FAIL")
		r.Attributes().PutStr("resource", "customer:username=bob")
		r.Attributes().PutStr("action_by", "c:1:0:bob")
	}
	require.NoError(t, h.consume(logsOf(textResource(rec))))
	r := h.records()[0]
	assert.Equal(t, "sippy", r.source())
	assert.Equal(t, "failure", r.attr("audit.outcome"))
	assert.Equal(t, "warning", r.SeverityText())
}

func sippyEvent(code, resource, actor string) vendorEvent {
	return vendorEvent{
		name: code, body: code + " " + resource, ts: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC),
		json: `{"resource":"` + resource + `","action":"` + code + `","action_by":"` + actor + `","user_ip":"192.0.2.7"}`,
	}
}

func TestSippyNormalizedAndClassified(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "sippy",
		sippyEvent("U", "accounts:i_account=5:balance=10", "u:1:3726:main_admin"),
		sippyEvent("AUTH_FAIL", "customer:username=bob", "v:105532:0:1743624'22"),
		sippyEvent("D", "accounts:i_account=5", "u:1:3726:main_admin"),
	))))
	recs := h.records()
	require.Len(t, recs, 3)
	assert.Equal(t, "main_admin", recs[0].attr("audit.actor"))
	assert.Equal(t, "u:1:3726", recs[0].attr("audit.actor_id"))
	assert.Equal(t, "accounts:i_account=5", recs[0].attr("audit.target"))
	assert.Equal(t, "5", recs[0].attr("sippy.resource_keys_i_account"))
	assert.Equal(t, "10", recs[0].attr("sippy.resource_fields_balance"))
	assert.Equal(t, "Update a record", recs[0].attr("sippy.action_description"))
	assert.Equal(t, "192.0.2.7", recs[0].attr("audit.client_address"))
	assert.Equal(t, "info", recs[0].SeverityText())
	assert.Equal(t, "1743624'22", recs[1].attr("audit.actor"))
	assert.Equal(t, "Bad auth", recs[1].attr("sippy.action_description"))
	assert.Equal(t, "warning", recs[1].SeverityText())
	assert.Equal(t, "notice", recs[2].SeverityText())
}

func TestUserRulesFromConfig(t *testing.T) {
	cfg := defaultConfig()
	cfg.Rules = []RuleConfig{
		{Name: "vip", Source: "glassix", Attributes: []AttributeMatchConfig{{Key: "targetUser_UserName", Value: seedEmail}}, Level: "alert"},
		{EventNameRegex: "^AUTH_", Level: "err"},
	}
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(
		vendorResource(t, "glassix", roleRemoved()),
		vendorResource(t, "sippy", sippyEvent("AUTH_OK", "customer:username=bob", "c:1:0:bob"), sippyEvent("U", "a:i=1", "c:1:0:bob")),
	)))
	recs := h.records()
	require.Len(t, recs, 3)
	assert.Equal(t, severity.Alert.OTel(), recs[0].SeverityNumber(), "a rule on a flattened attribute")
	assert.Equal(t, "alert", recs[0].SeverityText())
	assert.Equal(t, "err", recs[1].SeverityText(), "a regex rule beats the default")
	assert.Equal(t, "info", recs[2].SeverityText(), "no rule: the default")
}

func TestFlattenSeparator(t *testing.T) {
	cfg := defaultConfig()
	cfg.Flatten.Separator = "."
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	r := h.records()[0]
	assert.Equal(t, seedEmail, r.attr("initiatorUser.UserName"))
	assert.Equal(t, seedEmail, r.attr("audit.actor"), "normalization reads the separator's names")
}

func TestDuplicatesDroppedAndCounted(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	// Glassix retries: the same event again, alone and beside a new one.
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	other := roleRemoved()
	other.json = strings.Replace(other.json, "ad681bbc-9608-4a2a-a283-717011f35c35", "11111111-9608-4a2a-a283-717011f35c35", 1)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved(), other))))
	recs := h.records()
	require.Len(t, recs, 2)
	assert.Equal(t, "11111111-9608-4a2a-a283-717011f35c35", recs[1].attr("audit.event_id"))
	assert.Equal(t, int64(2), h.counter(metricDuplicates, "glassix"))
	assert.Len(t, h.sink.AllLogs(), 2, "a batch of only duplicates is not passed on at all")
}

func TestDuplicateWithinOneBatch(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(logsOf(vendorResource(t, "sippy",
		sippyEvent("U", "a:i=1", "c:1:0:bob"), sippyEvent("U", "a:i=1", "c:1:0:bob"), sippyEvent("U", "a:i=2", "c:1:0:bob")))))
	assert.Len(t, h.records(), 2)
	assert.Equal(t, int64(1), h.counter(metricDuplicates, "sippy"))
}

func TestFlaggedDuplicatesAreAllKept(t *testing.T) {
	cfg := defaultConfig()
	cfg.Source = "ctreplay"
	h := start(t, cfg, nil, nil)
	for i := 0; i < 2; i++ {
		require.NoError(t, h.consume(logsOf(textResource(fileLine("not json")))))
	}
	assert.Len(t, h.records(), 2)
	assert.Equal(t, int64(0), h.counter(metricDuplicates, "ctreplay"))
}

func TestDedupDisabled(t *testing.T) {
	cfg := defaultConfig()
	cfg.Dedup.Enabled = false
	h := start(t, cfg, nil, nil)
	for i := 0; i < 2; i++ {
		require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	}
	assert.Len(t, h.records(), 2)
}

// refusing fails its first n calls, as a full queue would.
type refusing struct {
	consumertest.LogsSink
	mu    sync.Mutex
	left  int
	calls int
}

func (r *refusing) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	r.mu.Lock()
	r.calls++
	refuse := r.left > 0
	r.left--
	r.mu.Unlock()
	if refuse {
		return errors.New("sending queue is full")
	}
	return r.LogsSink.ConsumeLogs(ctx, ld)
}

func (*refusing) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func TestRefusedDeliveryIsNotRememberedSoTheRetryPasses(t *testing.T) {
	next := &refusing{left: 1}
	h := start(t, defaultConfig(), next, nil)
	err := h.consume(logsOf(vendorResource(t, "glassix", roleRemoved())))
	require.EqualError(t, err, "sending queue is full", "the refusal reaches the receiver, which answers 503")
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))), "the vendor's retry")
	require.Len(t, collect(next.AllLogs()), 1, "the retry was delivered, not dropped as a duplicate")
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	assert.Len(t, collect(next.AllLogs()), 1, "once delivered, a repeat is a duplicate")
	assert.Equal(t, 2, next.calls, "a batch of only duplicates is not passed on")
}

// heldFirst holds the first call until release, then answers it with
// first; later calls go to the sink at once.
type heldFirst struct {
	consumertest.LogsSink
	first   error
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (h *heldFirst) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	h.mu.Lock()
	h.calls++
	isFirst := h.calls == 1
	h.mu.Unlock()
	if isFirst {
		close(h.entered)
		<-h.release
		if h.first != nil {
			return h.first
		}
	}
	return h.LogsSink.ConsumeLogs(ctx, ld)
}

func (*heldFirst) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// The same CTReplay event arrives through the file receiver and, while that
// copy is still being delivered, through syslog. The second copy is not
// dropped on the strength of the first: if the first is refused (and its
// receiver never retries), the second is the event. If both are delivered,
// the event is delivered twice: the documented window.
func TestACopyArrivingWhileAnotherIsInFlightIsNotLost(t *testing.T) {
	for _, tt := range []struct {
		name      string
		first     error
		delivered int
	}{
		{"first copy refused: the second is the event", errors.New("sending queue is full"), 1},
		{"first copy delivered too: a duplicate downstream", nil, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Source = "ctreplay"
			next := &heldFirst{first: tt.first, entered: make(chan struct{}), release: make(chan struct{})}
			h := start(t, cfg, next, nil)

			firstDone := make(chan error, 1)
			go func() { firstDone <- h.consume(logsOf(textResource(fileLine(seedCTReplayLine)))) }()
			<-next.entered // the file's copy is in flight
			require.NoError(t, h.consume(logsOf(textResource(syslogLine(seedCTReplayLine)))), "the syslog copy")
			close(next.release)
			if tt.first != nil {
				require.EqualError(t, <-firstDone, tt.first.Error(), "the file receiver sees the refusal")
			} else {
				require.NoError(t, <-firstDone)
			}

			recs := collect(next.AllLogs())
			require.Len(t, recs, tt.delivered)
			assert.Zero(t, h.counter(metricDuplicates, "ctreplay"), "nothing dropped while a copy was in flight")

			require.NoError(t, h.consume(logsOf(textResource(fileLine(seedCTReplayLine)))), "a later copy")
			assert.Len(t, collect(next.AllLogs()), tt.delivered, "once a copy was delivered, later ones are duplicates")
			assert.Equal(t, int64(1), h.counter(metricDuplicates, "ctreplay"))
		})
	}
}

func TestDedupPersistsAcrossRestartWithFileStorage(t *testing.T) {
	dir := t.TempDir()
	storageID := component.MustNewIDWithName("file_storage", "dedup")
	cfg := defaultConfig()
	cfg.Dedup.Storage = &storageID

	run := func(batches ...plog.Logs) []outRecord {
		ext, stop := testutil.StartFileStorage(t, dir)
		defer stop()
		h := start(t, cfg, nil, testutil.Host{storageID: ext})
		for _, ld := range batches {
			require.NoError(t, h.consume(ld))
		}
		require.NoError(t, h.proc.Shutdown(context.Background()))
		return h.records()
	}

	first := run(logsOf(vendorResource(t, "glassix", roleRemoved()), vendorResource(t, "sippy", sippyEvent("U", "a:i=1", "c:1:0:bob"))))
	require.Len(t, first, 2)
	// The collector restarts; Glassix and Sippy send the same events again,
	// and a new one.
	second := run(logsOf(vendorResource(t, "glassix", roleRemoved()), vendorResource(t, "sippy", sippyEvent("U", "a:i=1", "c:1:0:bob"), sippyEvent("U", "a:i=2", "c:1:0:bob"))))
	require.Len(t, second, 1, "the duplicates did not get through the restart")
	assert.Equal(t, "sippy", second[0].source())
	assert.Equal(t, "a:i=2", second[0].attr("audit.target"))
}

// countingStorage hands out clients that count their write batches.
type countingStorage struct {
	storage.Extension
	batches atomic.Int32
	tickets []*durable.Ticket
}

func (s *countingStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	return &countingClient{Client: c, batches: &s.batches, tickets: &s.tickets}, err
}

type countingClient struct {
	storage.Client
	batches *atomic.Int32
	tickets *[]*durable.Ticket
}

func (c *countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	c.batches.Add(1)
	*c.tickets = append(*c.tickets, durable.FromContext(ctx))
	return c.Client.Batch(ctx, ops...)
}

// The window is saved with every delivered batch, before the batch's
// ConsumeLogs returns and in its context (so a storage that defers its
// fsync to the receiver's ticket makes the ids durable before the sender
// is answered); a batch of duplicates only saves nothing.
func TestDedupWindowIsSavedWithEveryDeliveredBatch(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "dedup")
	cfg := defaultConfig()
	cfg.Dedup.Storage = &storageID
	ext, _ := testutil.StartFileStorage(t, t.TempDir())
	counting := &countingStorage{Extension: ext}
	h := start(t, cfg, nil, testutil.Host{storageID: counting})
	for i, want := range []int32{1, 2, 2} {
		ctx, ticket := durable.WithTicket(context.Background())
		event := sippyEvent("U", fmt.Sprintf("a:i=%d", min(i, 1)), "c:1:0:bob")
		require.NoError(t, h.proc.ConsumeLogs(ctx, logsOf(vendorResource(t, "sippy", event))))
		require.Equal(t, want, counting.batches.Load(), "batch %d: saved before ConsumeLogs returned", i)
		if i < 2 {
			assert.Same(t, ticket, counting.tickets[len(counting.tickets)-1], "saved in the batch's context")
		}
	}
	require.NoError(t, h.proc.Shutdown(context.Background()))
}

func TestMissingStorageExtensionFailsStart(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "missing")
	cfg := defaultConfig()
	cfg.Dedup.Storage = &storageID
	p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), testutil.Host{})
	assert.EqualError(t, err, `dedup::storage: extension "file_storage/missing" not found: add it to the service's extensions`)
	require.NoError(t, p.Shutdown(context.Background()))

	notStorage := testutil.Host{storageID: p}
	p2, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.EqualError(t, p2.Start(context.Background(), notStorage), `dedup::storage: extension "file_storage/missing" is not a storage extension`)
	require.NoError(t, p2.Shutdown(context.Background()))
}

func TestUnknownResourceSourceUntouched(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	ld := logsOf(vendorResource(t, "okta", vendorEvent{name: "x", json: `{"a":{"b":1}}`}))
	require.NoError(t, h.consume(ld))
	r := h.records()[0]
	assert.Equal(t, map[string]any{"a": map[string]any{"b": int64(1)}}, r.Attributes().AsRaw())
}

func TestConcurrentConsumers(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		ld := logsOf(vendorResource(t, "glassix", roleRemoved())) // built here: it may call require
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, h.consume(ld))
		}()
	}
	wg.Wait()
	// A copy arriving while another is in flight passes (dedup's package
	// comment: dropping it would lose the event if that delivery were
	// refused), so how many pass depends on the timing; each copy is
	// either delivered or counted dropped, and at least one is delivered.
	delivered := len(h.records())
	assert.GreaterOrEqual(t, delivered, 1, "eight concurrent copies: at least one delivered")
	assert.Equal(t, int64(8-delivered), h.counter(metricDuplicates, "glassix"), "the others counted as duplicates")
	// Once delivered, a ninth copy is a duplicate, whatever the timing.
	require.NoError(t, h.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	assert.Len(t, h.records(), delivered)
	assert.Equal(t, int64(9-delivered), h.counter(metricDuplicates, "glassix"))
}

func TestReceiverFlagIsKeptAndExtended(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	ld := logsOf(vendorResource(t, "ctreplay", vendorEvent{name: "", json: `{"ts":"08/01/2021 - 12:44:30.479","userID":"u"}`}))
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr(auditrecord.AttrParseError, "action: missing")
	require.NoError(t, h.consume(ld))
	assert.Equal(t, "action: missing; missing field(s) ipAddress", h.records()[0].attr("audit.parse_error"))
}

// mixedBatch holds one of every kind of input.
func mixedBatch(t *testing.T) plog.Logs {
	unparseable := func(rl plog.ResourceLogs) {
		// The auditwebhook receiver's record for an event it could not parse.
		rl.Resource().Attributes().PutStr(auditrecord.AttrSource, "sippy")
		r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		r.Body().SetStr(`{"resource":`)
		r.Attributes().PutStr(auditrecord.AttrParseError, "line 1, column 13: unexpected end of input")
		r.Attributes().PutInt(auditrecord.AttrParseLine, 1)
	}
	return logsOf(
		vendorResource(t, "glassix", roleRemoved()),
		vendorResource(t, "sippy", sippyEvent("AUTH_FAIL", "customer:username=bob", "u:1:3726:main_admin"), sippyEvent("ZAP", "x", "bad")),
		textResource(fileLine(seedCTReplayLine), fileLine("not json"), fileLine(`{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`), fileLine("nginx: started")),
		textResource(syslogLine(`{"ts":"09/01/2021 - 08:00:00","domain":"D","userID":"bob","ipAddress":"10.0.0.9","action":"DELETE Recording","params":"id=1","level":"info"}`)),
		unparseable,
	)
}

func marshal(t *testing.T, ld plog.Logs) string {
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return string(b)
}

func TestReceiverUnparseableRecordIsNotNormalized(t *testing.T) {
	h := start(t, defaultConfig(), nil, nil)
	require.NoError(t, h.consume(mixedBatch(t)))
	var r outRecord
	found := false
	for _, rec := range h.records() {
		if rec.Body().Str() == `{"resource":` {
			r, found = rec, true
		}
	}
	require.True(t, found, "the unparseable record is passed on")
	assert.Equal(t, "line 1, column 13: unexpected end of input", r.attr("audit.parse_error"), "no 'missing field' noise on an event nobody could read")
	assert.Equal(t, "unknown", r.attr("audit.outcome"))
	assert.Equal(t, "security", r.attr("audit.category"), "a view of security events keeps what could not be read")
	for _, k := range []string{"audit.actor", "audit.actor_id", "audit.target", "audit.client_address", "audit.action"} {
		_, ok := r.Attributes().Get(k)
		assert.False(t, ok, "%s is not guessed for an event nobody could read", k)
	}
	assert.Equal(t, "warning", r.SeverityText())
}

func TestProcessingIsIdempotent(t *testing.T) {
	// A receiver retrying a refused batch passes the processor's own,
	// already mutated output again; it must come out unchanged.
	cfg := defaultConfig()
	cfg.Dedup.Enabled = false
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(mixedBatch(t)))
	flaggedOnce := h.counter(metricParseErrors, "sippy") + h.counter(metricParseErrors, "ctreplay")
	assert.Equal(t, int64(2), flaggedOnce, "sippy's bad actor and code, CTReplay's missing fields; the receiver's own flag is not counted")
	once := h.sink.AllLogs()[0]
	again := plog.NewLogs()
	once.CopyTo(again)
	require.NoError(t, h.consume(again))
	assert.Equal(t, marshal(t, once), marshal(t, h.sink.AllLogs()[1]))
	assert.Equal(t, flaggedOnce, h.counter(metricParseErrors, "sippy")+h.counter(metricParseErrors, "ctreplay"), "nothing new flagged")
}

func TestRetriedBatchAfterRefusal(t *testing.T) {
	next := &refusing{left: 1}
	h := start(t, defaultConfig(), next, nil)
	ld := mixedBatch(t)
	require.Error(t, h.consume(ld))
	require.NoError(t, h.consume(ld), "the receiver retries the very same, already processed, data")

	want := start(t, defaultConfig(), nil, nil)
	require.NoError(t, want.consume(mixedBatch(t)))
	assert.Equal(t, marshal(t, want.sink.AllLogs()[0]), marshal(t, next.AllLogs()[0]), "a retry delivers what a first try would have")
}

func TestOversizedLineIsKeptWhole(t *testing.T) {
	// Receivers bound line sizes (file_log's max_log_size); the parser
	// bounds each string to 1 MiB, as the auditwebhook receiver does. A
	// line within the bounds is parsed and kept in full; one beyond them
	// is flagged and kept whole as raw text.
	line := func(params string) string {
		return `{"ts":"08/01/2021 - 12:44:30.479","userID":"admin","ipAddress":"::1","action":"SEARCH Recording","params":"` + params + `","level":"info"}`
	}
	atBound := strings.Repeat("p", 1<<20)
	overBound := strings.Repeat("p", 2<<20)
	cfg := defaultConfig()
	cfg.Source = "ctreplay"
	h := start(t, cfg, nil, nil)
	require.NoError(t, h.consume(logsOf(textResource(fileLine(line(atBound)), fileLine(line(overBound))))))
	recs := h.records()
	require.Len(t, recs, 2)

	parsed := recs[0]
	assert.Equal(t, atBound, parsed.attr("params"))
	assert.Equal(t, "SEARCH Recording "+atBound, parsed.Body().Str())
	assert.Equal(t, "<absent>", parsed.attr("audit.parse_error"))

	flagged := recs[1]
	assert.Equal(t, line(overBound), flagged.Body().Str(), "the whole line is kept")
	assert.Equal(t, "ctreplay: line is not a JSON object: column 107: string longer than 1048576 bytes", flagged.attr("audit.parse_error"))
}
