package durable

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The exporter registry lets a journal written before the pipeline's
// fan-out (internal/durable/journal, used by the auditlog processor) learn
// what each exporter delivered, and hand an exporter again what it had not
// delivered before a crash. A component never imports another, so the
// exporters and the processor meet here, by component ID:
//
//   - an exporter that reports its deliveries registers when it starts
//     (RegisterExporter, with the consumer a replay goes to) and
//     unregisters once its queue is drained at shutdown;
//   - after each export it calls Settled with the records it delivered,
//     or gave up on for good (an unformattable record: replaying it would
//     fail again);
//   - a journal watches the exporters it waits for (Watch).
//
// Exporters that do not report (any exporter not of this project) cannot
// be waited for: a journal refuses to start naming one.

// SettledFunc receives records an exporter settled: ld's records whose
// ordinal (counted across resources and scopes, from 0) is accepted by
// which, or every record when which is nil.
type SettledFunc func(ld plog.Logs, which func(ordinal int) bool)

type member struct {
	replay consumer.Logs
	subs   map[*watch]struct{}
}

type watch struct {
	settled SettledFunc
	gone    func()
}

var registry = struct {
	sync.RWMutex
	m map[component.ID]*member
}{m: map[component.ID]*member{}}

// RegisterExporter records that the exporter id reports its deliveries,
// and that replay accepts records to export again. The returned function
// unregisters it; watchers are told it is gone.
func RegisterExporter(id component.ID, replay consumer.Logs) (unregister func()) {
	m := &member{replay: replay, subs: map[*watch]struct{}{}}
	registry.Lock()
	// A new instance (the collector reloaded its configuration) takes
	// the id; the old one's watchers keep it until it unregisters.
	registry.m[id] = m
	registry.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			registry.Lock()
			if registry.m[id] == m {
				delete(registry.m, id)
			}
			subs := m.subs
			m.subs = nil
			registry.Unlock()
			for w := range subs {
				w.gone()
			}
		})
	}
}

// Settled reports that the exporter id delivered (or gave up for good on)
// ld's records selected by which (nil: all of them). It is cheap when
// nobody watches the exporter.
func Settled(id component.ID, ld plog.Logs, which func(ordinal int) bool) {
	registry.RLock()
	m := registry.m[id]
	if m == nil || len(m.subs) == 0 {
		registry.RUnlock()
		return
	}
	fns := make([]SettledFunc, 0, len(m.subs))
	for w := range m.subs {
		fns = append(fns, w.settled)
	}
	registry.RUnlock()
	for _, f := range fns {
		f(ld, which)
	}
}

// Watched reports whether a journal waits for the exporter id's reports.
func Watched(id component.ID) bool {
	registry.RLock()
	defer registry.RUnlock()
	m := registry.m[id]
	return m != nil && len(m.subs) > 0
}

// Watch subscribes to the exporter id's settled records; gone is called
// once when the exporter unregisters (its queue drained). It returns the
// exporter's replay consumer and a function ending the subscription, or
// ok false when no exporter id is registered.
func Watch(id component.ID, settled SettledFunc, gone func()) (replay consumer.Logs, stop func(), ok bool) {
	registry.Lock()
	defer registry.Unlock()
	m := registry.m[id]
	if m == nil {
		return nil, nil, false
	}
	w := &watch{settled: settled, gone: gone}
	m.subs[w] = struct{}{}
	return m.replay, func() {
		registry.Lock()
		defer registry.Unlock()
		if m.subs != nil {
			delete(m.subs, w)
		}
	}, true
}

// Registration is an exporter's place in the registry across its
// lifetime: Start registers it once the exporter started, Stop
// unregisters it once the exporter shut down (its queue drained). The
// zero value is ready to use; both are safe to call more than once.
type Registration struct {
	unregister atomic.Pointer[func()]
}

// Start starts the exporter (start) and registers id with replay.
func (r *Registration) Start(id component.ID, replay consumer.Logs, start func() error) error {
	if err := start(); err != nil {
		return err
	}
	u := RegisterExporter(id, replay)
	r.unregister.Store(&u)
	return nil
}

// Stop shuts the exporter down (shutdown) and then unregisters it.
func (r *Registration) Stop(shutdown func() error) error {
	err := shutdown()
	if u := r.unregister.Swap(nil); u != nil {
		(*u)()
	}
	return err
}
