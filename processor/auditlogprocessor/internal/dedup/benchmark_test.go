package dedup

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkWindowMemory fills a window to max_entries, 100 ids per
// delivery as a pipeline does, then turns it over once more (expiring by
// count), and reports the heap it holds per remembered event id.
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
		w := New(Config{Window: time.Hour, MaxEntries: entries / 2}, nil)
		for i := 0; i < entries; i += 100 {
			batch := keys[i : i+100]
			for _, k := range batch {
				w.Begin(k)
			}
			w.Commit(batch)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / float64(w.Len())
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
		w.Commit([]Key{k})
	}
}
