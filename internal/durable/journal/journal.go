// Package journal keeps one durable copy of each pipeline call until every
// exporter it waits for has delivered it, so the exporters themselves can
// keep their queues in memory.
//
// Without it, durable delivery to two exporters means a persistent sending
// queue in each: every pipeline call is marshalled twice, read back and
// unmarshalled twice, and costs six storage transactions (exporterhelper's
// persistent queue writes its metadata at every offer, read and done). The
// journal writes the call once, before the fan-out, in one storage batch
// that the request's durable.Ticket syncs with everything else the call
// wrote (the dedup window), and removes it once the exporters have
// reported it delivered (internal/durable's exporter registry: the
// rfc5424 and auditfile exporters report each export; a record carries its
// audit.event_id, by which a report is matched to its entry).
//
// Layout in the storage client (any storage extension; walstorage makes
// the write part of the receiver's group commit):
//
//	e/<seq>            the call's records (OTLP protobuf)
//	d/<exporter>/<seq> the exporter delivered the whole entry; the others
//	                   had not when it was written
//	next               the next sequence number (written with each entry)
//	low                no entry below it is pending (written as entries go)
//	corrupt            the sequence numbers of unreadable entries, kept aside
//	                   under x/<seq>, reported at every start
//
// After a crash, Open finds the entries in [low, next) and Replay hands
// each one to the exporters that had not delivered it, through the
// consumer they registered. Marks and deletions are written without an
// fsync: losing them in a power loss makes a replay send again what was
// delivered (a duplicate), never lose what was not.
//
// An exporter far behind (its SIEM down) does not hold the pipeline up:
// once more than Settings.MaxUnsettled of the records handed to it wait
// for its report, new calls are left out of its queue (durable.WithSkip
// tells it so) and stay in the journal only; a refill hands them over in
// order, read back from the storage, as the exporter catches up. So a
// long outage fills the disk, not the memory, the webhooks keep being
// answered, and the other exporters (the archive) get each event once.
//
// Only records carrying audit.event_id are tracked (every record of an
// audit source does, after the auditlog processor); a call without any is
// not journaled, and its records are as durable as the exporters' queues
// make them.
//
// No library keeps one write for several consumers with per-consumer
// progress across the collector's component boundaries; the storage API
// does the durable part.
package journal // import "github.com/otelcol-audit/otelcol-audit/internal/durable/journal"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// MaxExporters bounds the exporters one journal waits for (a bit each).
const MaxExporters = 64

const (
	keyNext    = "next"
	keyLow     = "low"
	keyCorrupt = "corrupt"
	// scanChunk is how many keys one storage batch reads at Open.
	scanChunk = 512
)

func entryKey(seq uint64) string { return "e/" + strconv.FormatUint(seq, 16) }
func asideKey(seq uint64) string { return "x/" + strconv.FormatUint(seq, 16) }
func markKey(exp string, seq uint64) string {
	return "d/" + exp + "/" + strconv.FormatUint(seq, 16)
}

func encodeSeq(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeSeq(key string, b []byte) (uint64, error) {
	if b == nil {
		return 0, nil
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("journal: %q holds %d bytes, want 8", key, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal: closed")

// Settings are the journal's parts.
type Settings struct {
	// Client is the storage the journal lives in; the journal closes it.
	Client storage.Client
	// Exporters are the exporters an entry waits for, in the registry.
	Exporters []component.ID
	Logger    *zap.Logger
	// MaxUnsettled is how many tracked records handed to one exporter may
	// wait for its report before new calls wait in the journal for it
	// (0: never; every call goes to every exporter's queue at once). Keep
	// it below the exporters' queue sizes, so the queue never refuses.
	MaxUnsettled int
}

// Journal is safe for concurrent use.
type Journal struct {
	client storage.Client
	logger *zap.Logger
	exps   []string // exporter ids, as in the marks' keys
	expIDs []component.ID
	replay []consumer.Logs
	stops  []func()

	// mu guards the state below; wmu orders the storage writes as their
	// operations were decided under mu (taken before mu is released).
	mu      sync.Mutex
	wmu     sync.Mutex
	next    uint64
	low     uint64
	queue   []*entry // pending entries in sequence order; done ones at the front are popped
	bySeq   map[uint64]*entry
	ids     map[string]*ref
	live    int // exporters still registered
	closed  bool
	pending []*entry // recovered by Open, not yet replayed

	cancel  context.CancelFunc
	replays sync.WaitGroup

	// Per exporter: tracked records handed to it and not yet settled;
	// whether calls are being left out of its queue (spilling) and from
	// which sequence number on some may be (from); whether a refill runs.
	// refills are cancelled by Stop.
	maxUnsettled int
	unsettled    []int
	spilling     []bool
	from         []uint64
	refilling    []bool
	refillCtx    context.Context
	refillStop   context.CancelFunc
	refills      sync.WaitGroup

	// progress collects the storage's deferred syncs of progress writes,
	// made in progressCtx; a timer syncs them (scheduleFlush).
	progress    *durable.Ticket
	progressCtx context.Context
	fmu         sync.Mutex
	flushing    bool
	stopped     bool
	timer       *time.Timer
	flushes     sync.WaitGroup
}

// entry is one journaled call.
type entry struct {
	seq    uint64
	left   []int  // per exporter: tracked records not yet settled
	marked []bool // per exporter: its mark is written
	ids    []string
	done   bool
	// recovered entries are tracked only when replayed.
	recovered bool
	waiting   uint64 // recovered: exporters (bits) that had not delivered it
	// handed: exporters (bits) whose queues got the records, counted in
	// their unsettled; skipped: exporters it is still to be handed to
	// (left out of the call, spilling).
	handed  uint64
	skipped uint64
	written bool // its storage write is done (refills read it back)
}

// ref is one tracked record: its entry and the exporters (bits) that have
// not settled it. Records with the same id chain, oldest first.
type ref struct {
	e    *entry
	mask uint64
	next *ref
}

// Open reads the journal's bounds and finds the entries a crash left
// pending, to be replayed by Replay, and watches the exporters. Every
// exporter must be registered (started) already.
func Open(ctx context.Context, set Settings) (*Journal, error) {
	if len(set.Exporters) == 0 || len(set.Exporters) > MaxExporters {
		return nil, fmt.Errorf("journal: %d exporters, want 1 to %d", len(set.Exporters), MaxExporters)
	}
	j := &Journal{
		client: set.Client, logger: set.Logger,
		bySeq: map[uint64]*entry{}, ids: map[string]*ref{},
		maxUnsettled: max(0, set.MaxUnsettled),
		unsettled:    make([]int, len(set.Exporters)),
		spilling:     make([]bool, len(set.Exporters)),
		from:         make([]uint64, len(set.Exporters)),
		refilling:    make([]bool, len(set.Exporters)),
	}
	j.refillCtx, j.refillStop = context.WithCancel(context.Background())
	j.progressCtx, j.progress = durable.WithTicket(context.Background())
	for i, id := range set.Exporters {
		i := i
		replay, stop, ok := durable.Watch(id,
			func(ld plog.Logs, which func(int) bool) { j.settle(i, ld, which) },
			j.exporterGone)
		if !ok {
			j.unwatch()
			return nil, fmt.Errorf("exporter %q does not report what it delivered (only this project's rfc5424 and auditfile exporters do), or is not in the service's pipelines", id)
		}
		j.exps = append(j.exps, id.String())
		j.expIDs = append(j.expIDs, id)
		j.replay = append(j.replay, replay)
		j.stops = append(j.stops, stop)
	}
	j.live = len(j.exps)
	if err := j.recover(ctx); err != nil {
		j.unwatch()
		return nil, err
	}
	return j, nil
}

func (j *Journal) unwatch() {
	for _, stop := range j.stops {
		stop()
	}
}

// recover reads next and low and finds the entries in between.
func (j *Journal) recover(ctx context.Context) error {
	next, low, corrupt := storage.GetOperation(keyNext), storage.GetOperation(keyLow), storage.GetOperation(keyCorrupt)
	if err := j.client.Batch(ctx, next, low, corrupt); err != nil {
		return fmt.Errorf("journal: reading its bounds: %w", err)
	}
	var err error
	if j.next, err = decodeSeq(keyNext, next.Value); err != nil {
		return err
	}
	if j.low, err = decodeSeq(keyLow, low.Value); err != nil {
		return err
	}
	if len(corrupt.Value) > 0 {
		j.logger.Error("The journal holds unreadable entries, kept aside: their events may be missing from an exporter (compare the SIEM with the archive for their time)",
			zap.String("entries", string(corrupt.Value)), zap.String("keys", "x/<entry>"))
	}
	if j.low > j.next {
		return fmt.Errorf("journal: low %d is past next %d", j.low, j.next)
	}
	events := 0
	for lo := j.low; lo < j.next; lo += scanChunk {
		hi := min(lo+scanChunk, j.next)
		ops := make([]*storage.Operation, 0, hi-lo)
		for s := lo; s < hi; s++ {
			ops = append(ops, storage.GetOperation(entryKey(s)))
		}
		if err := j.client.Batch(ctx, ops...); err != nil {
			return fmt.Errorf("journal: reading entries %d to %d: %w", lo, hi-1, err)
		}
		var found []*entry
		var marks []*storage.Operation
		for i, op := range ops {
			if op.Value == nil {
				continue
			}
			e := &entry{seq: lo + uint64(i), recovered: true, left: make([]int, len(j.exps)), marked: make([]bool, len(j.exps))}
			found = append(found, e)
			for _, exp := range j.exps {
				marks = append(marks, storage.GetOperation(markKey(exp, e.seq)))
			}
		}
		if len(marks) > 0 {
			if err := j.client.Batch(ctx, marks...); err != nil {
				return fmt.Errorf("journal: reading delivery marks: %w", err)
			}
		}
		for n, e := range found {
			for i := range j.exps {
				if marks[n*len(j.exps)+i].Value != nil {
					e.marked[i] = true
				} else {
					e.waiting |= 1 << i
				}
			}
			j.queue = append(j.queue, e)
			j.bySeq[e.seq] = e
			j.pending = append(j.pending, e)
			events++
		}
	}
	if len(j.pending) > 0 {
		j.logger.Info("Journal entries not delivered before the collector stopped: replaying them to the exporters that had not delivered them",
			zap.Int("entries", len(j.pending)), zap.Uint64("from", j.pending[0].seq), zap.Uint64("to", j.pending[len(j.pending)-1].seq))
	}
	return nil
}

// Replay hands the entries Open found to the exporters that had not
// delivered them, in order, in the background; Stop (or Close) ends it.
// An exporter refusing (its queue shutting down) stops the replay: the
// rest stays in the journal for the next start.
func (j *Journal) Replay() {
	j.mu.Lock()
	pending := j.pending
	j.pending = nil
	if j.closed || len(pending) == 0 {
		j.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.replays.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.replays.Done()
		j.replayAll(ctx, pending)
	}()
}

func (j *Journal) replayAll(ctx context.Context, pending []*entry) {
	replayed := 0
	for _, e := range pending {
		get := storage.GetOperation(entryKey(e.seq))
		if err := j.client.Batch(ctx, get); err != nil {
			j.logger.Warn("Journal replay stopped; the rest is replayed at the next start", zap.Uint64("entry", e.seq), zap.Error(err))
			return
		}
		ld, err := decodeEntry(get.Value)
		if get.Value == nil || err != nil {
			j.setAside(ctx, e, get.Value, err)
			continue
		}
		j.mu.Lock()
		if j.closed {
			j.mu.Unlock()
			return
		}
		j.track(e, collectIDs(ld), e.waiting)
		var ops []*storage.Operation
		if e.left == nil || allZero(e.left) {
			// Nothing trackable in it, or every exporter had delivered it
			// (the deletion was lost): nothing to send.
			j.finish(e, &ops)
		}
		done := e.done
		if !done {
			j.hand(e, e.waiting)
		}
		j.advanceLow(&ops)
		j.write(ops)
		for i, c := range j.replay {
			if done || e.waiting&(1<<i) == 0 {
				continue
			}
			out := ld
			if c.Capabilities().MutatesData || e.waiting>>(i+1) != 0 {
				out = plog.NewLogs()
				ld.CopyTo(out)
			}
			if err := c.ConsumeLogs(ctx, out); err != nil {
				j.logger.Warn("Journal replay stopped: an exporter refused; the rest is replayed at the next start",
					zap.String("exporter", j.exps[i]), zap.Uint64("entry", e.seq), zap.Error(err))
				return
			}
		}
		replayed++
	}
	j.logger.Info("Journal replay handed over", zap.Int("entries", replayed))
}

// setAside moves an unreadable entry to x/<seq>, records it under
// corrupt and reports it: it is never skipped silently, and never blocks
// the entries after it.
func (j *Journal) setAside(ctx context.Context, e *entry, value []byte, cause error) {
	if cause == nil {
		cause = errors.New("the entry is gone")
	}
	j.logger.Error("Journal entry unreadable: kept aside, not replayed; its events may be missing from the exporters that had not delivered them (compare the SIEM with the archive)",
		zap.Uint64("entry", e.seq), zap.Int("bytes", len(value)), zap.String("kept_as", asideKey(e.seq)),
		zap.Strings("not_delivered_to", j.names(e.waiting)), zap.Error(cause))
	corrupt := storage.GetOperation(keyCorrupt)
	if err := j.client.Batch(ctx, corrupt); err != nil {
		j.logger.Error("Journal: could not record the unreadable entry", zap.Error(err))
		return
	}
	list := string(corrupt.Value)
	if list != "" {
		list += ","
	}
	list += strconv.FormatUint(e.seq, 10)
	ops := []*storage.Operation{storage.SetOperation(keyCorrupt, []byte(list))}
	if value != nil {
		ops = append(ops, storage.SetOperation(asideKey(e.seq), value))
	}
	j.mu.Lock()
	j.finish(e, &ops)
	j.advanceLow(&ops)
	j.write(ops)
}

func (j *Journal) names(mask uint64) []string {
	var out []string
	for i, n := range j.exps {
		if mask&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Stop ends a replay under way and waits for it.
func (j *Journal) Stop() {
	j.mu.Lock()
	cancel := j.cancel
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	j.replays.Wait()
	j.refillStop()
	j.refills.Wait()
}

// collectIDs returns the event ids of ld's records, in order ("" for a
// record without one).
func collectIDs(ld plog.Logs) []string {
	ids := make([]string, 0, ld.LogRecordCount())
	for _, id := range durable.EventIDs(ld) {
		ids = append(ids, id)
	}
	return ids
}

// track registers e's records (ids, "" untracked) as waited for by the
// exporters in mask. Called with mu held.
func (j *Journal) track(e *entry, ids []string, mask uint64) {
	if e.left == nil {
		e.left = make([]int, len(j.exps))
		e.marked = make([]bool, len(j.exps))
	}
	if mask == 0 {
		return // nobody to wait for: no ref (one would never be unlinked)
	}
	n := 0
	for _, id := range ids {
		if id == "" {
			continue
		}
		// A copy: the record's string may share memory with the whole
		// request it was parsed from, which the journal must not keep.
		id = strings.Clone(id)
		n++
		r := &ref{e: e, mask: mask}
		if head := j.ids[id]; head == nil {
			j.ids[id] = r
		} else {
			for head.next != nil {
				head = head.next
			}
			head.next = r
		}
		e.ids = append(e.ids, id)
	}
	for i := range j.exps {
		if mask&(1<<i) != 0 {
			e.left[i] = n
		}
	}
}

// Append journals ld before it is passed to the exporters: one storage
// batch, which a durable.Ticket in ctx makes part of the request's group
// commit. It returns the context to pass ld on with (telling the exporters
// far behind to leave it to the journal: see MaxUnsettled), the entry's
// sequence number, and false when ld has no record to track (nothing was
// written).
func (j *Journal) Append(ctx context.Context, ld plog.Logs) (context.Context, uint64, bool, error) {
	ids := collectIDs(ld)
	n := 0
	for _, id := range ids {
		if id != "" {
			n++
		}
	}
	if n == 0 {
		return ctx, 0, false, nil
	}
	buf, err := encodeEntry(ld)
	if err != nil {
		return ctx, 0, false, fmt.Errorf("journal: encoding: %w", err)
	}
	all := uint64(1)<<len(j.exps) - 1
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ctx, 0, false, ErrClosed
	}
	e := &entry{seq: j.next}
	j.next++
	skip := j.spill(e, n)
	// The exporters left out track nothing yet: their refill reads the
	// ids back with the records, so a long outage keeps no id in memory.
	j.track(e, ids, all&^skip)
	j.hand(e, all&^skip)
	j.queue = append(j.queue, e)
	j.bySeq[e.seq] = e
	j.wmu.Lock()
	j.mu.Unlock()
	err = j.client.Batch(ctx,
		storage.SetOperation(entryKey(e.seq), buf),
		storage.SetOperation(keyNext, encodeSeq(e.seq+1)))
	j.wmu.Unlock()
	if err != nil {
		j.mu.Lock()
		j.untrack(e)
		var ops []*storage.Operation
		j.advanceLow(&ops)
		j.write(ops)
		return ctx, 0, false, fmt.Errorf("journal: writing: %w", err)
	}
	if skip != 0 {
		ctx = durable.WithSkip(ctx, j.idsOf(skip))
	}
	if j.maxUnsettled > 0 {
		j.mu.Lock()
		e.written = true
		j.maybeRefill()
		j.mu.Unlock()
	}
	return ctx, e.seq, true, nil
}

// spill returns the exporters (bits) e, of n tracked records, is left out
// of: those already spilling, and those that would have more than
// maxUnsettled records unsettled. An exporter with nothing unsettled
// always takes the call, however large. Called with mu held.
func (j *Journal) spill(e *entry, n int) uint64 {
	var skip uint64
	for i := range j.exps {
		bit := uint64(1) << i
		if j.maxUnsettled > 0 && (j.spilling[i] || (j.unsettled[i] > 0 && j.unsettled[i]+n > j.maxUnsettled)) {
			if !j.spilling[i] {
				j.spilling[i] = true
				j.from[i] = e.seq
				j.logger.Warn("Exporter far behind: new events wait in the journal on disk and are handed to it in order as it catches up",
					zap.String("exporter", j.exps[i]), zap.Int("unsettled_records", j.unsettled[i]), zap.Uint64("from_entry", e.seq))
			}
			skip |= bit
		}
	}
	e.skipped = skip
	return skip
}

// hand counts e's records as handed to the exporters in mask. Called with
// mu held.
func (j *Journal) hand(e *entry, mask uint64) {
	for i := range j.exps {
		bit := uint64(1) << i
		if mask&bit != 0 && e.handed&bit == 0 && e.left != nil {
			e.handed |= bit
			j.unsettled[i] += e.left[i]
		}
	}
}

// release stops counting e's unsettled records (it is removed). Called
// with mu held.
func (j *Journal) release(e *entry) {
	for i := range j.exps {
		if e.handed&(1<<i) != 0 && e.left != nil {
			j.unsettled[i] -= e.left[i]
		}
	}
	e.handed = 0
}

func (j *Journal) idsOf(mask uint64) []component.ID {
	var out []component.ID
	for i, id := range j.expIDs {
		if mask&(1<<i) != 0 {
			out = append(out, id)
		}
	}
	return out
}

// maybeRefill starts a refill for each spilling exporter that has caught
// up to half of maxUnsettled. Called with mu held.
func (j *Journal) maybeRefill() {
	if j.closed || j.refillCtx.Err() != nil {
		return
	}
	for i := range j.exps {
		if j.spilling[i] && !j.refilling[i] && j.unsettled[i] <= j.maxUnsettled/2 {
			j.refilling[i] = true
			j.refills.Add(1)
			go j.refill(i)
		}
	}
}

// refill hands exporter i, in order, the entries left out of its queue,
// read back from the storage, until it has maxUnsettled records unsettled
// again (settle starts the next refill) or none is left (it stops
// spilling). An entry whose write is still under way ends the refill; its
// Append starts the next one.
func (j *Journal) refill(i int) {
	defer j.refills.Done()
	bit := uint64(1) << i
	for {
		j.mu.Lock()
		if j.closed || j.refillCtx.Err() != nil || j.unsettled[i] >= j.maxUnsettled {
			j.refilling[i] = false
			j.mu.Unlock()
			return
		}
		var e *entry
		for ; j.from[i] < j.next; j.from[i]++ {
			if c := j.bySeq[j.from[i]]; c != nil && !c.done && c.skipped&bit != 0 {
				e = c
				break
			}
		}
		if e == nil {
			j.spilling[i] = false
			j.refilling[i] = false
			j.mu.Unlock()
			j.logger.Info("Exporter caught up: events go to its queue again", zap.String("exporter", j.exps[i]))
			return
		}
		if !e.written {
			j.refilling[i] = false
			j.mu.Unlock()
			return
		}
		j.from[i] = e.seq + 1
		j.mu.Unlock()

		get := storage.GetOperation(entryKey(e.seq))
		err := j.client.Batch(j.refillCtx, get)
		if err == nil && get.Value == nil {
			continue // removed meanwhile: its call was refused and abandoned
		}
		var ld plog.Logs
		if err == nil {
			if ld, err = decodeEntry(get.Value); err != nil {
				j.setAside(j.refillCtx, e, get.Value, err)
				continue
			}
			j.mu.Lock()
			if e.done {
				j.mu.Unlock()
				continue
			}
			j.track(e, collectIDs(ld), bit)
			e.skipped &^= bit
			j.hand(e, bit)
			j.mu.Unlock()
			err = j.replay[i].ConsumeLogs(j.refillCtx, ld)
			if err != nil {
				j.mu.Lock()
				if !e.done {
					j.untrackFor(e, i)
					e.skipped |= bit
				}
				j.mu.Unlock()
			}
		}
		if err != nil {
			// Left for the next refill (or the next start's replay).
			j.logger.Warn("Journal: handing a waiting entry to its exporter failed; trying again as deliveries come in",
				zap.String("exporter", j.exps[i]), zap.Uint64("entry", e.seq), zap.Error(err))
			j.mu.Lock()
			j.from[i] = min(j.from[i], e.seq)
			j.refilling[i] = false
			j.mu.Unlock()
			return
		}
	}
}

// untrackFor takes back e's records from exporter i (a refill it
// refused): its refs lose i's bit and its count of them. Called with mu
// held.
func (j *Journal) untrackFor(e *entry, i int) {
	bit := uint64(1) << i
	j.dropRefs(e, bit)
	if e.handed&bit != 0 {
		j.unsettled[i] -= e.left[i]
		e.handed &^= bit
	}
	e.left[i] = 0
}

// Abandon forgets entry seq: the pipeline refused the call, so its sender
// was not acknowledged and will send it again.
func (j *Journal) Abandon(seq uint64) {
	j.mu.Lock()
	e := j.bySeq[seq]
	if e == nil || e.done {
		j.mu.Unlock()
		return
	}
	j.untrack(e)
	ops := []*storage.Operation{storage.DeleteOperation(entryKey(seq))}
	for i, m := range e.marked {
		if m {
			ops = append(ops, storage.DeleteOperation(markKey(j.exps[i], seq)))
		}
	}
	j.advanceLow(&ops)
	j.write(ops)
}

// untrack removes e's refs and marks it done. Called with mu held.
func (j *Journal) untrack(e *entry) {
	j.release(e)
	j.dropRefs(e, ^uint64(0))
	e.done = true
	delete(j.bySeq, e.seq)
}

// dropRefs takes the exporters in mask off e's refs, unlinking the refs
// no exporter waits on any more. Called with mu held.
func (j *Journal) dropRefs(e *entry, mask uint64) {
	for _, id := range e.ids {
		var prev *ref
		for r := j.ids[id]; r != nil; prev, r = r, r.next {
			if r.e != e || r.mask&mask == 0 {
				continue
			}
			r.mask &^= mask
			if r.mask == 0 {
				j.unlink(id, prev, r)
			}
			break
		}
	}
}

// unlink removes r, which follows prev (nil: r is first), from id's list
// of refs, and the list when it empties. Called with mu held.
func (j *Journal) unlink(id string, prev, r *ref) {
	switch {
	case prev != nil:
		prev.next = r.next
	case r.next != nil:
		j.ids[id] = r.next
	default:
		delete(j.ids, id)
	}
}

// settle takes exporter i's report. Called by the registry.
func (j *Journal) settle(i int, ld plog.Logs, which func(int) bool) {
	bit := uint64(1) << i
	var ops []*storage.Operation
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return
	}
	for ord, id := range durable.EventIDs(ld) {
		if id != "" && (which == nil || which(ord)) {
			j.settleID(id, i, bit, &ops)
		}
	}
	if j.maxUnsettled > 0 {
		j.maybeRefill()
	}
	j.advanceLow(&ops)
	j.write(ops)
}

// settleID settles one record. Called with mu held.
func (j *Journal) settleID(id string, i int, bit uint64, ops *[]*storage.Operation) {
	var prev *ref
	for r := j.ids[id]; r != nil; prev, r = r, r.next {
		if r.mask&bit == 0 {
			continue
		}
		r.mask &^= bit
		if r.mask == 0 {
			j.unlink(id, prev, r)
		}
		e := r.e
		e.left[i]--
		if e.handed&bit != 0 {
			j.unsettled[i]--
		}
		if e.left[i] > 0 {
			return
		}
		if !allZero(e.left) || e.skipped != 0 {
			e.marked[i] = true
			*ops = append(*ops, storage.SetOperation(markKey(j.exps[i], e.seq), []byte{1}))
			if allZero(e.left) {
				// Only exporters it is still to be handed to wait for
				// it: no ref is left, and their refill reads the ids
				// back.
				e.ids = nil
			}
			return
		}
		j.finish(e, ops)
		return
	}
}

func allZero(v []int) bool {
	for _, n := range v {
		if n != 0 {
			return false
		}
	}
	return true
}

// finish removes a delivered entry. Called with mu held.
func (j *Journal) finish(e *entry, ops *[]*storage.Operation) {
	j.release(e)
	e.done = true
	delete(j.bySeq, e.seq)
	*ops = append(*ops, storage.DeleteOperation(entryKey(e.seq)))
	for i, m := range e.marked {
		if m {
			*ops = append(*ops, storage.DeleteOperation(markKey(j.exps[i], e.seq)))
		}
	}
}

// advanceLow pops the done entries at the front and records the new low
// bound. Called with mu held.
func (j *Journal) advanceLow(ops *[]*storage.Operation) {
	n := 0
	for n < len(j.queue) && j.queue[n].done {
		n++
	}
	if n == 0 {
		return
	}
	clear(j.queue[:n])
	j.queue = j.queue[n:]
	low := j.next
	if len(j.queue) > 0 {
		low = j.queue[0].seq
	}
	if low != j.low {
		j.low = low
		*ops = append(*ops, storage.SetOperation(keyLow, encodeSeq(low)))
	}
}

// flushDelay bounds how long progress (marks, deletions, low) may stay
// unsynced when no webhook's fsync comes by to take it along: a storage
// that buffers unsynced writes in the process (pebble's log writer does,
// up to a 32 KiB block) would lose them to a SIGKILL, and a replay would
// send again what was delivered.
const flushDelay = 100 * time.Millisecond

// write applies ops in the order they were decided: it takes wmu before
// releasing mu, which the caller holds.
func (j *Journal) write(ops []*storage.Operation) {
	if len(ops) == 0 {
		j.mu.Unlock()
		return
	}
	j.wmu.Lock()
	j.mu.Unlock()
	defer j.wmu.Unlock()
	// Progress is written without its own fsync (a storage that defers
	// syncs to a ticket, walstorage, does not wait): lost in a power loss,
	// it is sent again, not lost. It is synced within flushDelay.
	if err := j.client.Batch(j.progressCtx, ops...); err != nil {
		// The entries stay; after a restart they are replayed: duplicates,
		// not losses.
		j.logger.Warn("Journal: recording deliveries failed; delivered events may be sent again after a restart", zap.Error(err))
		return
	}
	j.scheduleFlush()
}

// scheduleFlush syncs the progress written so far within flushDelay.
func (j *Journal) scheduleFlush() {
	j.fmu.Lock()
	defer j.fmu.Unlock()
	if j.flushing || j.stopped {
		return
	}
	j.flushing = true
	j.flushes.Add(1)
	j.timer = time.AfterFunc(flushDelay, func() {
		defer j.flushes.Done()
		j.fmu.Lock()
		j.flushing = false
		j.fmu.Unlock()
		j.syncProgress()
	})
}

func (j *Journal) syncProgress() {
	if err := j.progress.Wait(); err != nil {
		j.logger.Warn("Journal: syncing delivery progress failed; delivered events may be sent again after a power loss", zap.Error(err))
	}
}

// stopFlushes stops the flush timer and makes the progress durable.
func (j *Journal) stopFlushes() {
	j.fmu.Lock()
	j.stopped = true
	if j.timer != nil && j.timer.Stop() {
		j.flushes.Done()
	}
	j.fmu.Unlock()
	j.flushes.Wait()
	j.syncProgress()
}

// exporterGone is told by the registry that an exporter shut down (its
// queue drained). When the last one goes the journal closes.
func (j *Journal) exporterGone() {
	j.mu.Lock()
	j.live--
	last := j.live == 0
	j.mu.Unlock()
	if last {
		_ = j.Close(context.Background())
	}
}

// Close stops a replay, stops watching the exporters and closes the
// storage client. Pending entries stay for the next start.
func (j *Journal) Close(ctx context.Context) error {
	j.Stop()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.unwatch()
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.stopFlushes()
	return j.client.Close(ctx)
}

// Stats are the journal's counts, for tests and logs.
type Stats struct {
	Pending  int // entries not yet delivered by every exporter
	Tracked  int // distinct event ids waited for
	Next     uint64
	LowBound uint64
}

// Stats returns the journal's counts.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, e := range j.queue {
		if !e.done {
			n++
		}
	}
	return Stats{Pending: n, Tracked: len(j.ids), Next: j.next, LowBound: j.low}
}
