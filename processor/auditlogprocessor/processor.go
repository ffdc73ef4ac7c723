package auditlogprocessor // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/durable/journal"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/classify"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/dedup"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/eventid"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/normalize"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/shareddedup"
)

// MessageAttribute is where the syslog receiver (and stanza's syslog_parser)
// put a syslog message's text; the processor looks for CTReplay's JSON
// there before looking at the Body.
const MessageAttribute = "message"

type auditLogProcessor struct {
	cfg        *Config
	id         component.ID
	logger     *zap.Logger
	ctOpts     ctreplay.Options
	flatOpts   flatten.Options
	classifier *classify.Classifier
	telemetry  *metadata.TelemetryBuilder
	bySource   map[string]metric.MeasurementOption

	next consumer.Logs
	// deliver wraps next: it passes records on and commits their event ids
	// to the dedup window only once next accepted them.
	deliver consumer.Logs

	// journal is the durable copy of each call until the exporters it
	// waits for delivered it; nil without journal::storage.
	journal *journal.Journal

	window *dedup.Window  // nil when dedup is off; set by start
	client storage.Client // nil without dedup::storage
	// saveFailing is set while saving the window fails, so the failure is
	// logged once until a save works again.
	saveFailing atomic.Bool

	// shared is the dedup table several collectors share; nil without
	// dedup::shared.
	shared *shareddedup.Store
	// sharedFailing says the last call to shared failed, so that an outage
	// is logged once, and its end once.
	sharedFailing atomic.Bool
}

func newAuditLogProcessor(set processor.Settings, cfg *Config, next consumer.Logs) (*auditLogProcessor, error) {
	ctOpts, err := cfg.ctreplayOptions()
	if err != nil {
		return nil, err
	}
	rules, err := cfg.compileRules()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &auditLogProcessor{
		cfg:        cfg,
		id:         set.ID,
		logger:     set.Logger,
		ctOpts:     ctOpts,
		flatOpts:   cfg.flattenOptions(),
		classifier: classify.New(rules),
		telemetry:  tb,
		bySource:   make(map[string]metric.MeasurementOption, len(auditrecord.Sources)),
		next:       next,
	}
	for _, s := range auditrecord.Sources {
		p.bySource[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("source", s)))
	}
	p.deliver, err = consumer.NewLogs(p.deliverLogs, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *auditLogProcessor) start(ctx context.Context, host component.Host) error {
	if err := p.startDedup(ctx, host); err != nil {
		return err
	}
	return p.startJournal(ctx, host)
}

// storageClient returns a client of the storage extension id for name.
func (p *auditLogProcessor) storageClient(ctx context.Context, host component.Host, key string, id component.ID, name string) (storage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("%s: extension %q not found: add it to the service's extensions", key, id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("%s: extension %q is not a storage extension", key, id)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, p.id, name)
	if err != nil {
		return nil, fmt.Errorf("%s: getting a client from %q: %w", key, id, err)
	}
	return client, nil
}

// startJournal opens the journal and replays what the exporters had not
// delivered before the collector stopped. The exporters are started
// already (the collector starts them before processors).
func (p *auditLogProcessor) startJournal(ctx context.Context, host component.Host) error {
	if p.cfg.Journal.Storage == nil {
		return nil
	}
	client, err := p.storageClient(ctx, host, "journal::storage", *p.cfg.Journal.Storage, "journal")
	if err != nil {
		return err
	}
	j, err := journal.Open(ctx, journal.Settings{Client: client, Exporters: p.cfg.Journal.Exporters, Logger: p.logger, MaxUnsettled: p.cfg.Journal.MaxUnsettled})
	if err != nil {
		_ = client.Close(ctx)
		return fmt.Errorf("journal: %w", err)
	}
	p.journal = j
	p.logger.Info("Journal on", zap.Stringer("storage", p.cfg.Journal.Storage), zap.Stringers("exporters", p.cfg.Journal.Exporters))
	j.Replay()
	return nil
}

func (p *auditLogProcessor) startDedup(ctx context.Context, host component.Host) error {
	if !p.cfg.Dedup.Enabled {
		return nil
	}
	if sh := p.cfg.Dedup.Shared.Get(); sh != nil {
		s, err := shareddedup.Open(shareddedup.Config{
			DSN: sh.DSN, Table: sh.Table, Window: p.cfg.Dedup.Window, Timeout: sh.Timeout, Backoff: sh.RetryAfter,
		})
		if err != nil {
			return fmt.Errorf("dedup::shared: %w", err)
		}
		p.shared = s
		p.logger.Info("Deduplicating across collectors through a shared PostgreSQL table", zap.String("table", sh.Table))
	}
	dcfg := dedup.Config{Window: p.cfg.Dedup.Window, MaxEntries: p.cfg.Dedup.MaxEntries}
	if p.cfg.Dedup.Storage == nil {
		p.window = dedup.New(dcfg, nil)
		return nil
	}
	client, err := p.storageClient(ctx, host, "dedup::storage", *p.cfg.Dedup.Storage, "dedup")
	if err != nil {
		return err
	}
	p.client = client
	w, err := dedup.Load(ctx, dcfg, nil, client)
	if err != nil {
		// Starting with less memory than saved lets some duplicates through;
		// refusing to start would lose events. Say so and go on.
		p.logger.Warn("Dedup window not fully restored; duplicates of older events may pass", zap.Error(err))
	}
	p.window = w
	p.logger.Info("Dedup window restored", zap.Int("event_ids", w.Len()), zap.Stringer("storage", p.cfg.Dedup.Storage))
	return nil
}

// saveWindow saves the dedup window after a delivered batch, in the
// batch's context: a storage that defers its fsync to the receiver's
// acknowledgement (walstorage with auditwebhook) makes the ids durable
// with the batch's records, so after a crash a retry of an acknowledged
// event is still dropped. A failure is logged (once until a save works
// again) but does not refuse the batch, which is already queued: it only
// lets duplicates through after a crash.
func (p *auditLogProcessor) saveWindow(ctx context.Context) {
	err := p.window.Save(ctx)
	switch {
	case err != nil && !p.saveFailing.Swap(true):
		p.logger.Warn("Could not save the dedup window; after a restart duplicates of the events since the last save may pass; retrying with the next batch", zap.Error(err))
	case err == nil && p.saveFailing.Swap(false):
		p.logger.Info("Saving the dedup window works again")
	}
}

func (p *auditLogProcessor) shutdown(ctx context.Context) error {
	if p.journal != nil {
		// Only the replay stops: the journal keeps taking the exporters'
		// reports while they drain their queues (they shut down after the
		// processors) and closes when the last one is gone.
		p.journal.Stop()
	}
	if p.shared != nil {
		p.shared.Close()
		p.shared = nil
	}
	if p.client == nil {
		return nil
	}
	var err error
	if serr := p.window.Save(ctx); serr != nil {
		err = fmt.Errorf("dedup::storage: final save: %w", serr)
	}
	err = errors.Join(err, p.client.Close(ctx))
	p.client = nil
	return err
}

// processLogs runs the steps of the README in order: parse text records,
// flatten, normalize, classify, deduplicate.
func (p *auditLogProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	b := p.newBatch()
	n := rls.Len() // resources appended by splitting text resources are done
	for i := 0; i < n; i++ {
		rl := rls.At(i)
		source, labelled := sourceOf(rl.Resource())
		if !labelled {
			p.processTextResource(ctx, b, rls, rl)
			continue
		}
		if !slices.Contains(auditrecord.Sources, source) {
			continue // not an audit record we know: passed on untouched
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sls.At(j).LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				return !p.processRecord(ctx, b, source, r, nil, false)
			})
		}
	}
	p.dropSharedDuplicates(ctx, b, ld)
	for i := 0; i < rls.Len(); i++ {
		rls.At(i).ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool { return sl.LogRecords().Len() == 0 })
	}
	rls.RemoveIf(func(rl plog.ResourceLogs) bool { return rl.ScopeLogs().Len() == 0 })
	if ld.LogRecordCount() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

// sourceOf returns the resource's audit.source and whether it has one.
func sourceOf(res pcommon.Resource) (string, bool) {
	if v, ok := res.Attributes().Get(auditrecord.AttrSource); ok {
		return v.AsString(), true
	}
	return "", false
}

// batch is what deduplication remembers of one batch: the keys claimed for
// it. A second copy of an event within a batch shares the first's fate
// (both are delivered or neither), so it is dropped.
type batch struct {
	claimed map[dedup.Key]struct{}
}

func (p *auditLogProcessor) newBatch() *batch {
	if p.window == nil {
		return nil
	}
	return &batch{claimed: make(map[dedup.Key]struct{})}
}

// processRecord flattens, normalizes, classifies and deduplicates one
// record of batch b, flagging it with the problems found so far and by
// normalization. unparsed says the record's text could not be parsed: it
// has no vendor fields to normalize. It reports false when the record is a
// duplicate to drop.
//
// Processing is idempotent: a receiver retrying a refused batch passes the
// already processed records again (the processor mutates data in place),
// and they must come out the same.
func (p *auditLogProcessor) processRecord(ctx context.Context, b *batch, source string, r plog.LogRecord, problems []string, unparsed bool) bool {
	attrs := r.Attributes()
	// The id is taken before flattening, so it does not depend on the
	// separator; text records got theirs when they were parsed.
	id := eventid.Of(source, r, attrs)
	flatten.InPlace(attrs, p.flatOpts)
	attrs.PutStr(auditrecord.AttrEventID, id)
	switch _, normalized := attrs.Get(auditrecord.AttrOutcome); {
	case normalized:
		// Processed before: a retried batch, or an earlier auditlog
		// processor in the pipeline.
	case unparsed || !hasVendorFields(attrs):
		// Nothing was read from the event (a receiver's unparseable
		// record, or text that is not CTReplay's JSON). Input an audit
		// pipeline cannot read is a matter for security (hostile, cut
		// short, or a vendor's format changed under it): a view or SIEM
		// rule keeping audit.category=security must not lose it.
		attrs.PutStr(auditrecord.AttrOutcome, auditrecord.OutcomeUnknown)
		attrs.PutStr(auditrecord.AttrCategory, auditrecord.CategorySecurity)
	default:
		problems = append(problems, normalize.Record(source, r, p.flatOpts.Separator)...)
	}
	if len(problems) > 0 {
		p.flag(ctx, source, r, problems...)
	}
	p.classifier.Apply(source, r)
	if p.window == nil || flagged(r) {
		// Flagged records are evidence of something wrong: all are kept.
		return true
	}
	k := dedup.KeyOf(source, id)
	if _, again := b.claimed[k]; !again && p.window.Begin(k) {
		b.claimed[k] = struct{}{}
		return true
	}
	p.telemetry.ProcessorAuditlogDuplicatesDropped.Add(ctx, 1, p.bySource[source])
	p.logger.Debug("Dropped duplicate audit event", zap.String("source", source), zap.String("event_id", id))
	return false
}

// hasVendorFields reports whether attrs hold anything but the audit.*
// fields of the contract.
func hasVendorFields(attrs pcommon.Map) bool {
	found := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		found = !strings.HasPrefix(k, "audit.")
		return !found
	})
	return found
}

func flagged(r plog.LogRecord) bool {
	_, ok := r.Attributes().Get(auditrecord.AttrParseError)
	return ok
}

// flag adds problems to the record's audit.parse_error, after any a
// receiver already put there, and counts the record once. Problems the
// message already holds are not repeated.
func (p *auditLogProcessor) flag(ctx context.Context, source string, r plog.LogRecord, problems ...string) {
	attrs := r.Attributes()
	prev := ""
	if v, ok := attrs.Get(auditrecord.AttrParseError); ok {
		prev = v.AsString()
	}
	msg := prev
	for _, pr := range problems {
		if strings.Contains(msg, pr) {
			continue
		}
		if msg != "" {
			msg += "; "
		}
		msg += pr
	}
	if msg == prev {
		return
	}
	attrs.PutStr(auditrecord.AttrParseError, msg)
	p.telemetry.ProcessorAuditlogParseErrors.Add(ctx, 1, p.bySource[source])
}

// deliverLogs passes ld on and, once next accepted it, commits its event
// ids to the dedup window. When next refuses, the ids are released, so the
// sender's retry is not taken for a duplicate and lost.
//
// With a journal, ld is journaled first (in ctx's group commit), and
// forgotten again when next refuses it: the sender was not acknowledged
// and sends it again.
func (p *auditLogProcessor) deliverLogs(ctx context.Context, ld plog.Logs) error {
	var keys []dedup.Key
	if p.window != nil {
		keys = pendingKeys(ld) // before next, which may move the data on
	}
	var seq uint64
	var journaled bool
	if p.journal != nil {
		var err error
		if ctx, seq, journaled, err = p.journal.Append(ctx, ld); err != nil {
			if len(keys) > 0 {
				p.window.Abort(keys)
			}
			return err
		}
	}
	err := p.next.ConsumeLogs(ctx, ld)
	if err != nil && journaled {
		p.journal.Abandon(seq)
	}
	if len(keys) == 0 {
		return err
	}
	if err != nil {
		p.window.Abort(keys)
		return err
	}
	p.window.Commit(keys)
	if p.client != nil {
		p.saveWindow(ctx)
	}
	if p.shared != nil {
		pending := p.shared.RecordLater(keys)
		if !durable.Defer(ctx, sharedRecord{p, pending}) {
			p.sharedResult(ctx, "record", pending.Wait())
		}
	}
	return nil
}

// sharedRecord lets a webhook's answer wait for its keys to be in the
// shared table, as for its fsync, without holding up the pipeline call
// (the next call runs meanwhile, and its keys join the same statement or
// the next). It never fails the answer: the events are delivered, and a
// missing key only lets a retry at another collector through.
type sharedRecord struct {
	p       *auditLogProcessor
	pending *shareddedup.Pending
}

func (r sharedRecord) Sync() error {
	r.p.sharedResult(context.Background(), "record", r.pending.Wait())
	return nil
}

// dropSharedDuplicates removes from ld the records whose keys b claimed
// locally but another collector (or this one, before a restart) delivered
// within the window, as the shared table says, releasing their local
// claims. When the table cannot be asked, the batch keeps what the local
// window let through.
func (p *auditLogProcessor) dropSharedDuplicates(ctx context.Context, b *batch, ld plog.Logs) {
	if p.shared == nil || b == nil || len(b.claimed) == 0 {
		return
	}
	keys := make([]dedup.Key, 0, len(b.claimed))
	for k := range b.claimed {
		keys = append(keys, k)
	}
	seen, err := p.shared.Seen(ctx, keys)
	if !p.sharedResult(ctx, "check", err) || len(seen) == 0 {
		return
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		source, _ := sourceOf(rls.At(i).Resource())
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sls.At(j).LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				if flagged(r) {
					return false
				}
				id, ok := r.Attributes().Get(auditrecord.AttrEventID)
				if !ok {
					return false
				}
				k := dedup.KeyOf(source, id.Str())
				if !seen[k] {
					return false
				}
				p.window.Abort([]dedup.Key{k})
				p.telemetry.ProcessorAuditlogDuplicatesDropped.Add(ctx, 1, p.bySource[source])
				p.logger.Debug("Dropped duplicate audit event delivered by another collector", zap.String("source", source), zap.String("event_id", id.Str()))
				return true
			})
		}
	}
}

// sharedResult counts and logs a failed call to the shared table (once per
// outage, and its end once) and reports whether the call worked.
func (p *auditLogProcessor) sharedResult(ctx context.Context, op string, err error) bool {
	if err == nil {
		if p.sharedFailing.CompareAndSwap(true, false) {
			p.logger.Info("The shared dedup table answers again: deduplicating across collectors")
		}
		return true
	}
	p.telemetry.ProcessorAuditlogSharedDedupFallbacks.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", op)))
	if p.sharedFailing.CompareAndSwap(false, true) {
		p.logger.Warn("The shared dedup table cannot be reached: deduplicating against this collector's window only; duplicates delivered by other collectors may pass until it is back",
			zap.String("operation", op), zap.Error(err))
	}
	return false
}

// pendingKeys returns the dedup keys processRecord claimed for ld's records:
// those of a known source with an event id and no parse error.
func pendingKeys(ld plog.Logs) []dedup.Key {
	var keys []dedup.Key
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		source, _ := sourceOf(rls.At(i).Resource())
		if !slices.Contains(auditrecord.Sources, source) {
			continue
		}
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				r := lrs.At(k)
				if flagged(r) {
					continue
				}
				if id, ok := r.Attributes().Get(auditrecord.AttrEventID); ok {
					keys = append(keys, dedup.KeyOf(source, id.Str()))
				}
			}
		}
	}
	return keys
}
