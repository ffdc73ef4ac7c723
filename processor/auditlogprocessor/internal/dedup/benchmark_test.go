package dedup

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkWindowMemory fills a window to max_entries and reports the heap
// it holds per remembered event id.
func BenchmarkWindowMemory(b *testing.B) {
	const entries = 100_000
	keys := make([]Key, entries)
	for i := range keys {
		keys[i] = key(i)
	}
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := New(Config{Window: time.Hour, MaxEntries: entries}, nil)
		for _, k := range keys {
			w.Begin(k)
		}
		if err := w.Commit(context.Background(), keys); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / entries
		runtime.KeepAlive(w)
	}
	b.ReportMetric(perEntry, "B/entry")
}

// BenchmarkBeginCommit is the per-event cost of a check and a commit in a
// full window.
func BenchmarkBeginCommit(b *testing.B) {
	w := New(Config{Window: time.Hour, MaxEntries: 100_000}, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := key(i)
		i++
		if !w.Begin(k) {
			b.Fatal("fresh key seen")
		}
		if err := w.Commit(context.Background(), []Key{k}); err != nil {
			b.Fatal(err)
		}
	}
}
