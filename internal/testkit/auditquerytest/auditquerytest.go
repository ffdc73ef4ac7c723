// Package auditquerytest generates realistic archives for the query
// engine's tests, benchmarks and the genarchive tool: mixed Glassix,
// CTReplay and Sippy records shaped as the auditwebhook receiver makes them
// (seeds 000-002), normalized and classified by the real auditlog
// processor, and written by the real archive writer, so hashes, chain,
// rotation and gzip are all genuine.
package auditquerytest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"
)

// Start is the time of the first generated event.
var Start = time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.UTC)

// Generator makes records of the three vendors in a deterministic mix:
// event i happens at Start + i*Step (plus a little jitter, so event times
// are not in archive order).
type Generator struct {
	Step  time.Duration
	rng   *rand.Rand
	next  int
	addrs []string
}

// addressPool is how many client addresses the events come from: users
// and nodes are a bounded crowd, not a new address per event.
const addressPool = 5000

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64, step time.Duration) *Generator {
	g := &Generator{Step: step, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for range addressPool {
		g.addrs = append(g.addrs, fmt.Sprintf("%d.%d.%d.%d", 10+g.rng.IntN(200), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)))
	}
	return g
}

// Vocabularies the generator draws from.
var (
	GlassixTypes = []string{"UserRemoved", "UserAdded", "RoleRemoved", "RoleAdded", "ChatbotMappingsChange",
		"LoginSucceeded", "LoginFailed", "ApiKeyCreated", "DepartmentSettingsChanged", "UserLockedOut"}
	CTReplayActions = []string{"GET ALL Profile", "GET Profile", "DELETE Profile", "SAVE Profile", "SET tag", "SET reopen",
		"SEARCH Recording", "DELETE Recording", "GET wave form", "DOWNLOAD Recording", "PLAY Recording", "GET USERS"}
	Users  = []string{"admin", "main_admin", "anna.rossi", "marco.bianchi", "ops", "audit.bot", "giulia", "root", "luca.verdi", "support"}
	Tables = []string{"accounts", "customers", "tariffs", "vendors", "rates", "web_users"}
)

// Next returns n records, in one resource per vendor.
func (g *Generator) Next(n int) plog.Logs {
	ld := plog.NewLogs()
	var lrs [3]plog.LogRecordSlice
	for v, src := range auditrecord.Sources {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(auditrecord.AttrSource, src)
		rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, src)
		lrs[v] = rl.ScopeLogs().AppendEmpty().LogRecords()
	}
	for range n {
		i := g.next
		g.next++
		ts := Start.Add(time.Duration(i)*g.Step + time.Duration(g.rng.IntN(2000))*time.Millisecond)
		switch v := g.rng.IntN(10); {
		case v < 4:
			g.glassix(lrs[0].AppendEmpty(), i, ts)
		case v < 7:
			g.ctreplay(lrs[1].AppendEmpty(), i, ts)
		default:
			g.sippy(lrs[2].AppendEmpty(), i, ts)
		}
	}
	return ld
}

func (g *Generator) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *Generator) ip() string { return g.addrs[g.rng.IntN(len(g.addrs))] }

func stamp(r plog.LogRecord, ts time.Time) {
	r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	r.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(1500 * time.Millisecond)))
}

func (g *Generator) glassix(r plog.LogRecord, i int, ts time.Time) {
	typ := g.pick(GlassixTypes)
	initiator, target := g.pick(Users)+"@example.com", g.pick(Users)+"@example.com"
	msg := fmt.Sprintf("%s %s by %s", target, typ, initiator)
	stamp(r, ts)
	r.SetEventName(typ)
	r.Body().SetStr(msg)
	a := r.Attributes()
	a.PutStr("id", fmt.Sprintf("ad681bbc-%04x-4a2a-a283-%012x", i%0xffff, i))
	a.PutStr("dateTime", ts.Format(time.RFC3339Nano))
	a.PutStr("departmentId", "95b4ae47-a872-4dd5-920d-7b01d64288ad")
	u := a.PutEmptyMap("initiatorUser")
	u.PutStr("id", fmt.Sprintf("f4d56da7-%08x", g.rng.IntN(50)))
	u.PutStr("gender", "Undefined")
	u.PutStr("UserName", initiator)
	u.PutStr("culture", "en-US")
	u.PutBool("isAnonymous", false)
	u.PutStr("uniqueArgument", "")
	u.PutStr("type", "AGENT")
	if typ != "LoginSucceeded" && typ != "LoginFailed" {
		t := a.PutEmptyMap("targetUser")
		t.PutStr("id", fmt.Sprintf("2563e94e-%08x", g.rng.IntN(50)))
		t.PutStr("UserName", target)
		t.PutStr("type", "AGENT")
	}
	a.PutStr("ipAddress", g.ip())
	a.PutStr("message", msg)
	a.PutStr("type", typ)
	logType := "Security"
	if typ == "ChatbotMappingsChange" || typ == "DepartmentSettingsChanged" {
		logType = "Informative"
	}
	a.PutStr("logType", logType)
}

func (g *Generator) ctreplay(r plog.LogRecord, i int, ts time.Time) {
	action := g.pick(CTReplayActions)
	params := ""
	switch {
	case action == "SEARCH Recording":
		params = fmt.Sprintf(`{"from":"%s","agent":"%s"}`, ts.Add(-24*time.Hour).Format("2006-01-02"), g.pick(Users))
	case action == "DELETE Recording" || action == "DOWNLOAD Recording" || action == "PLAY Recording" || action == "GET wave form":
		params = fmt.Sprintf("id=%d", 100000+g.rng.IntN(900000))
	case action == "SET tag":
		params = fmt.Sprintf("id=%d,tag=%s", 100000+g.rng.IntN(900000), g.pick([]string{"urgent", "reviewed", "complaint"}))
	}
	level := "info"
	if g.rng.IntN(50) == 0 {
		level = "error"
	}
	stamp(r, ts)
	r.SetEventName(action)
	body := action
	if params != "" {
		body += " " + params
	}
	r.Body().SetStr(body)
	a := r.Attributes()
	a.PutStr("ts", ts.In(time.UTC).Format("02/01/2006 - 15:04:05.000"))
	a.PutStr("domain", "SAASFCL")
	a.PutStr("userID", g.pick(Users))
	a.PutStr("ipAddress", g.ip())
	a.PutStr("action", action)
	a.PutStr("params", params)
	a.PutStr("level", level)
}

func (g *Generator) sippy(r plog.LogRecord, i int, ts time.Time) {
	actions := sippy.All()
	act := actions[g.rng.IntN(len(actions))]
	if g.rng.IntN(2) == 0 { // table edits and logins dominate
		act, _ = sippy.Lookup(g.pick([]string{"U", "A", "D", "AUTH_OK", "AUTH_FAIL", "U"}))
	}
	user := g.pick(Users)
	id := 1000 + g.rng.IntN(90000)
	var resource string
	switch act.Shape {
	case sippy.ShapeTable:
		table := g.pick(Tables)
		if act.Code == "CLR_FSTUSE" || act.Code == "EXT_LFTM" {
			table = "accounts"
		}
		resource = fmt.Sprintf("%s:i_%s=%d", table, table[:len(table)-1], id)
		if act.Code != "D" && act.Code != "R" && act.Code != "CLR_FSTUSE" && act.Code != "EXT_LFTM" {
			resource += fmt.Sprintf(":balance=%d.%02d", g.rng.IntN(1000), g.rng.IntN(100))
		}
	case sippy.ShapeEntityKey:
		resource = fmt.Sprintf("%s:username=%s", g.pick([]string{"customer", "account", "vendor"}), user)
	case sippy.ShapeKeys:
		switch act.Code {
		case "RELAYED":
			resource = fmt.Sprintf("i_environment=%d,method=get_account_info", 1+g.rng.IntN(9))
		case "MFA_RSTUSR":
			resource = fmt.Sprintf("user_type=web_user,user_id=%d", id)
		case "SSLCRT_ISS", "FW_OPEN80":
			resource = fmt.Sprintf("i_environment=%d", 1+g.rng.IntN(9))
		default:
			resource = fmt.Sprintf("i_account=%d", id)
		}
	case sippy.ShapeOperation:
		resource = fmt.Sprintf("%s:i_account=%d:amount=%d.00", g.pick([]string{"add", "credit", "debit", "recharge"}), id, g.rng.IntN(500))
	case sippy.ShapeMFA:
		resource = fmt.Sprintf("web_user:%s:totp", user)
	case sippy.ShapeEntity:
		resource = "system"
	}
	actor := fmt.Sprintf("u:1:%d:%s", 3000+g.rng.IntN(800), user)
	if g.rng.IntN(8) == 0 {
		actor = "t:0:0:" + g.ip()
	}
	stamp(r, ts)
	r.SetEventName(act.Code)
	r.Body().SetStr(act.Code + " " + resource)
	a := r.Attributes()
	a.PutStr("resource", resource)
	a.PutStr("action", act.Code)
	a.PutStr("action_by", actor)
	a.PutStr("date", ts.Format("2006-01-02 15:04:05"))
	a.PutStr("user_ip", g.ip())
}

// Pipeline runs records through the real auditlog processor (dedup off:
// generated ids never repeat) into an archive writer.
type Pipeline struct {
	proc processor.Logs
	sink *consumertest.LogsSink
	w    *archive.Writer
	path string
}

// NewPipeline opens the archive writer with opts and starts the processor.
func NewPipeline(opts archive.WriterOptions) (*Pipeline, error) {
	f := auditlogprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*auditlogprocessor.Config)
	cfg.Dedup.Enabled = false
	sink := new(consumertest.LogsSink)
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		return nil, err
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		return nil, err
	}
	w, err := archive.OpenWriter(opts)
	if err != nil {
		return nil, errors.Join(err, p.Shutdown(context.Background()))
	}
	return &Pipeline{proc: p, sink: sink, w: w, path: opts.Path}, nil
}

// Write processes ld and writes it to the archive as one batch.
func (p *Pipeline) Write(ctx context.Context, ld plog.Logs) error {
	p.sink.Reset()
	if err := p.proc.ConsumeLogs(ctx, ld); err != nil {
		return err
	}
	for _, out := range p.sink.AllLogs() {
		var enc archive.Encoder
		if err := p.w.WriteHinted(ctx, enc.Encode(out), enc.Hints()); err != nil {
			return err
		}
	}
	return nil
}

// Path is the archive's active file.
func (p *Pipeline) Path() string { return p.path }

// Close closes the writer and stops the processor.
func (p *Pipeline) Close() error {
	return errors.Join(p.w.Close(), p.proc.Shutdown(context.Background()))
}

// WriteArchive writes total generated events in batches of batch through
// a Pipeline with opts.
func WriteArchive(ctx context.Context, opts archive.WriterOptions, g *Generator, total, batch int) error {
	p, err := NewPipeline(opts)
	if err != nil {
		return err
	}
	for done := 0; done < total; done += batch {
		if err := p.Write(ctx, g.Next(min(batch, total-done))); err != nil {
			return errors.Join(err, p.Close())
		}
	}
	return p.Close()
}

// Unparsed makes n records flagged as the receivers flag input they could
// not read whole (auditrecord.AttrParseError), received at at: every other
// one unreadable (the raw text as the body, no event name, no time), the
// others with a bad time (the vendor's fields kept, no event time).
func Unparsed(n int, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceCTReplay)
	rl.Resource().Attributes().PutStr("service.name", auditrecord.SourceCTReplay)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		r := lrs.AppendEmpty()
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Millisecond)))
		if i%2 == 0 {
			r.Body().SetStr(fmt.Sprintf(`{"action":"DELETE Recording","userID":"mallory%d",`, i))
			r.Attributes().PutStr(auditrecord.AttrParseError, "not JSON: unexpected end of input")
			continue
		}
		r.SetEventName("DELETE Recording")
		r.Body().SetStr("DELETE Recording id=" + fmt.Sprint(i))
		r.Attributes().PutStr("action", "DELETE Recording")
		r.Attributes().PutStr("userID", fmt.Sprintf("mallory%d", i))
		r.Attributes().PutStr("ts", "yesterday")
		r.Attributes().PutStr(auditrecord.AttrParseError, `ts: cannot read "yesterday" as a time`)
	}
	return ld
}
