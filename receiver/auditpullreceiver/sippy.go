package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/sippyapi"
)

// checkpointKey is the storage key of the Sippy checkpoint.
const checkpointKey = "sippy_checkpoint"

// checkpointVersion is the checkpoint's format.
const checkpointVersion = 1

// sippyState is the checkpoint: everything dated before Next was
// delivered, and of the window [Next-overlap, WindowEnd] being read, the
// pages before Offset. Seen holds the records delivered whose date is
// recent enough to be read again in an overlap, so they are not
// delivered twice: record key -> date (Unix seconds).
type sippyState struct {
	Version   int              `json:"version"`
	Origin    time.Time        `json:"origin"`
	Next      time.Time        `json:"next"`
	WindowEnd time.Time        `json:"window_end,omitzero"`
	Offset    int              `json:"offset,omitempty"`
	Seen      map[string]int64 `json:"seen,omitempty"`
}

type sippyPoller struct {
	r      *pullReceiver
	cfg    *SippyConfig
	logger *zap.Logger
	parser sippy.Parser
	// idPrefix starts the audit.event_id of a record with an id:
	// "sippy:<host>:<id field>=".
	idPrefix string
	now      func() time.Time

	client *sippyapi.Client
	store  storage.Client
	state  sippyState
	// window holds the keys delivered in the window being read, so a page
	// that shifted (records inserted before the offset) repeats nothing.
	window map[string]bool

	attrs metric.MeasurementOption
}

func newSippyPoller(r *pullReceiver, cfg *SippyConfig) (*sippyPoller, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("sippy::timezone: %w", err)
	}
	host := ""
	if u, err := url.Parse(cfg.Endpoint); err == nil {
		host = u.Host
	}
	return &sippyPoller{
		r: r, cfg: cfg, logger: r.set.Logger.With(zap.String("source", auditrecord.SourceSippy)),
		parser:   sippy.Parser{Location: loc},
		idPrefix: "sippy:" + host + ":" + cfg.Fields.ID + "=",
		now:      time.Now,
		window:   map[string]bool{},
		attrs:    metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", r.set.ID.String()), attribute.String("source", auditrecord.SourceSippy))),
	}, nil
}

func (p *sippyPoller) start(ctx context.Context, host component.Host) error {
	if p.cfg.Endpoint == "" {
		return errors.New("sippy::endpoint is empty: set it to the switch's XML-RPC address, https://<switch>/xmlapi/xmlapi")
	}
	if p.cfg.TLS.InsecureSkipVerify {
		p.logger.Warn("sippy::tls::insecure_skip_verify is on: the switch's certificate is not checked, so anyone on the path can read the API password's digest exchange and forge audit records; give the switch's CA in sippy::tls::ca_file instead")
	}
	if p.cfg.Username == "" {
		p.logger.Info("sippy::username is empty: calling the switch in trusted mode (no authentication)")
	}
	hc, err := p.cfg.ToClient(ctx, host.GetExtensions(), p.r.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("sippy: %w", err)
	}
	p.client = sippyapi.New(p.cfg.Endpoint, hc, p.cfg.Username, string(p.cfg.Password))

	if p.cfg.Storage != nil {
		ext, ok := host.GetExtensions()[*p.cfg.Storage]
		if !ok {
			return fmt.Errorf("sippy::storage: extension %q not found: add it to the service's extensions", p.cfg.Storage)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("sippy::storage: extension %q is not a storage extension", p.cfg.Storage)
		}
		if p.store, err = se.GetClient(ctx, component.KindReceiver, p.r.set.ID, "sippy"); err != nil {
			return fmt.Errorf("sippy::storage: getting a client from %q: %w", p.cfg.Storage, err)
		}
	} else {
		p.logger.Warn("sippy::storage is not set: the checkpoint is kept in memory only, so each start reads again from sippy::start_at")
	}
	return p.load(ctx)
}

// load reads the checkpoint, or starts one at start_at.
func (p *sippyPoller) load(ctx context.Context) error {
	origin := p.now().Add(-p.cfg.Lag).Truncate(time.Second).UTC()
	if !p.cfg.StartAt.IsZero() {
		origin = p.cfg.StartAt.Truncate(time.Second).UTC()
	}
	p.state = sippyState{Version: checkpointVersion, Origin: origin, Next: origin, Seen: map[string]int64{}}
	if p.store == nil {
		return nil
	}
	data, err := p.store.Get(ctx, checkpointKey)
	if err != nil {
		return fmt.Errorf("sippy::storage: reading the checkpoint: %w", err)
	}
	if data == nil {
		p.logger.Info("No checkpoint yet: reading from sippy::start_at", zap.Time("start_at", origin))
		return nil
	}
	var st sippyState
	if err := json.Unmarshal(data, &st); err != nil || st.Version != checkpointVersion || st.Next.IsZero() {
		// Guessing a position could skip records: refuse to start, and say
		// how to start over.
		return fmt.Errorf("sippy::storage: the checkpoint is unreadable (%v); to read again from sippy::start_at, delete the storage extension's file for receiver %s", err, p.r.set.ID)
	}
	if st.Seen == nil {
		st.Seen = map[string]int64{}
	}
	p.state = st
	p.logger.Info("Resuming from the checkpoint", zap.Time("next", st.Next), zap.Time("window_end", st.WindowEnd), zap.Int("offset", st.Offset))
	return nil
}

func (p *sippyPoller) shutdown(ctx context.Context) error {
	if p.store == nil {
		return nil
	}
	return p.store.Close(ctx)
}

func (p *sippyPoller) run(ctx context.Context) {
	bo := newRetrier(p.cfg.RetryOnFailure)
	for ctx.Err() == nil {
		caughtUp, err := p.step(ctx, bo)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d := bo.next()
			p.logFailure(err, d)
			sleep(ctx, d)
		case caughtUp:
			bo.reset()
			sleep(ctx, p.cfg.PollInterval)
		default:
			bo.reset()
		}
	}
}

func (p *sippyPoller) logFailure(err error, retryIn time.Duration) {
	kind := "storage"
	fields := []zap.Field{zap.Error(err), zap.Duration("retry_in", retryIn),
		zap.Time("window_start", p.windowStart()), zap.Time("window_end", p.state.WindowEnd), zap.Int("offset", p.state.Offset)}
	attrs := []attribute.KeyValue{attribute.String("receiver", p.r.set.ID.String()), attribute.String("source", auditrecord.SourceSippy)}
	var e *sippyapi.Error
	if errors.As(err, &e) {
		kind = e.Kind
		if e.Kind == sippyapi.KindFault {
			fields = append(fields, zap.Int("fault_code", e.FaultCode), zap.String("fault_string", e.FaultString))
			attrs = append(attrs, attribute.Int("fault_code", e.FaultCode))
		}
		if e.Status != 0 {
			fields = append(fields, zap.Int("http_status", e.Status))
			if e.Kind == sippyapi.KindHTTP {
				attrs = append(attrs, attribute.Int("http_status", e.Status))
			}
		}
	}
	attrs = append(attrs, attribute.String("kind", kind))
	p.r.tb.ReceiverAuditpullAPIErrors.Add(context.Background(), 1, metric.WithAttributes(attrs...))
	if kind == sippyapi.KindUnauthorized {
		p.logger.Error("Sippy getAuditLogs failed; retrying from the checkpoint", fields...)
		return
	}
	p.logger.Warn("Sippy getAuditLogs failed; retrying from the checkpoint", fields...)
}

// windowStart is the start of the window being read: Overlap before
// Next, never before the origin.
func (p *sippyPoller) windowStart() time.Time {
	s := p.state.Next.Add(-p.cfg.Overlap)
	if s.Before(p.state.Origin) {
		s = p.state.Origin
	}
	return s
}

// step reads one page and delivers its new records. It reports caughtUp
// when the window would end before it starts (nothing to read until
// time passes).
func (p *sippyPoller) step(ctx context.Context, bo *retrier) (caughtUp bool, err error) {
	st := &p.state
	if st.WindowEnd.IsZero() {
		limit := p.now().Add(-p.cfg.Lag).Truncate(time.Second).UTC()
		end := st.Next.Add(p.cfg.Window)
		if end.After(limit) {
			end = limit
		}
		if !end.After(st.Next) {
			return true, nil
		}
		st.WindowEnd, st.Offset = end, 0
		clear(p.window)
	}
	recs, err := p.client.GetAuditLogs(ctx, sippyapi.Query{Start: p.windowStart(), End: st.WindowEnd, Limit: p.cfg.PageSize, Offset: st.Offset})
	if err != nil {
		return false, err
	}
	p.r.tb.ReceiverAuditpullPages.Add(ctx, 1, p.attrs)

	ld, out := p.r.newLogs(auditrecord.SourceSippy)
	observed := pcommon.NewTimestampFromTime(p.now())
	type delivered struct {
		key  string
		date int64
	}
	var fresh []delivered
	inPage := make(map[string]bool, len(recs))
	dups := 0
	for _, rec := range recs {
		key, raw := p.record(rec)
		if _, ok := st.Seen[key]; ok || p.window[key] || inPage[key] {
			dups++
			continue
		}
		inPage[key] = true
		n := out.Len()
		p.parser.Parse(raw, vendors.Options{Observed: observed, ForwardUnparsed: true}, out)
		date := st.WindowEnd.Unix()
		for i := n; i < out.Len(); i++ {
			lr := out.At(i)
			if ts := lr.Timestamp(); ts != 0 {
				date = ts.AsTime().Unix()
			}
			if id := p.id(rec); id != "" {
				lr.Attributes().PutStr(auditrecord.AttrEventID, p.idPrefix+id)
			}
		}
		fresh = append(fresh, delivered{key, date})
	}
	if dups > 0 {
		p.r.tb.ReceiverAuditpullDuplicates.Add(ctx, int64(dups), p.attrs)
	}
	if err := p.r.deliver(ctx, auditrecord.SourceSippy, ld, bo); err != nil && !errors.Is(err, errDropped) {
		return false, err
	}

	// The pipeline has the records: advance.
	tail := st.WindowEnd.Add(-p.cfg.Overlap).Unix()
	for _, d := range fresh {
		p.window[d.key] = true
		if d.date >= tail {
			st.Seen[d.key] = d.date
		}
	}
	if len(recs) < p.cfg.PageSize {
		// A short page ends the window.
		st.Next, st.WindowEnd, st.Offset = st.WindowEnd, time.Time{}, 0
		keep := st.Next.Add(-p.cfg.Overlap).Unix()
		for k, d := range st.Seen {
			if d < keep {
				delete(st.Seen, k)
			}
		}
	} else {
		st.Offset += len(recs)
	}
	if err := p.save(ctx); err != nil {
		return false, err
	}
	p.r.tb.ReceiverAuditpullCheckpoint.Record(ctx, st.Next.Unix(), p.attrs)
	return false, nil
}

// save writes the checkpoint: one storage write per page.
func (p *sippyPoller) save(ctx context.Context) error {
	if p.store == nil {
		return nil
	}
	data, err := json.Marshal(&p.state)
	if err != nil {
		return err
	}
	if err := p.store.Set(ctx, checkpointKey, data); err != nil {
		return fmt.Errorf("sippy::storage: writing the checkpoint: %w", err)
	}
	return nil
}

// record renames the switch's members to the record contract's names and
// returns the record's identity and its JSON text for the vendor parser.
// The identity is the id member when present, else a hash of the content.
func (p *sippyPoller) record(v sippyapi.Record) (key string, raw []byte) {
	f := p.cfg.Fields
	rec, ok := v.(map[string]any)
	if !ok {
		// Not a struct: the parser flags its text as unreadable, and it
		// travels on as evidence.
		raw, err := json.Marshal(jsonSafe(v))
		if err != nil {
			raw = []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
		}
		sum := sha256.Sum256(raw)
		return "h:" + hex.EncodeToString(sum[:16]), raw
	}
	for ours, theirs := range map[string]string{
		sippy.FieldResource: f.Resource, sippy.FieldAction: f.Action, sippy.FieldActionBy: f.ActionBy,
		sippy.FieldDate: f.Date, sippy.FieldUserIP: f.UserIP,
	} {
		if theirs == ours {
			continue
		}
		if v, ok := rec[theirs]; ok {
			if _, taken := rec[ours]; !taken {
				rec[ours] = v
				delete(rec, theirs)
			}
		}
	}
	// XML-RPC structs are unordered; encoding/json writes the members in
	// name order, so a record's text (and its content hash) is stable.
	raw, err := json.Marshal(jsonSafe(rec))
	if err != nil {
		raw = []byte(fmt.Sprintf("%q", fmt.Sprint(rec)))
	}
	if id := p.id(rec); id != "" {
		return "id:" + id, raw
	}
	sum := sha256.Sum256(raw)
	return "h:" + hex.EncodeToString(sum[:16]), raw
}

// id is the record's own id, "" when it has none.
func (p *sippyPoller) id(v sippyapi.Record) string {
	rec, ok := v.(map[string]any)
	if !ok || p.cfg.Fields.ID == "" {
		return ""
	}
	if id, ok := rec[p.cfg.Fields.ID]; ok && id != nil {
		return fmt.Sprint(id)
	}
	return ""
}

// jsonSafe turns XML-RPC values JSON cannot hold as such into strings:
// dateTime.iso8601 as RFC 3339, base64 stays a string.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return v
	}
}
