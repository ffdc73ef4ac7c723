package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// BenchmarkWrite measures events/s into a real file in a temporary
// directory (on the disk that holds $TMPDIR), with the default rotation
// (100 MiB) and gzip. Bodies are encoded beforehand; BenchmarkEncodeLogs
// measures encoding.
func BenchmarkWrite(b *testing.B) {
	cases := []struct {
		fsync          FsyncMode
		batch, writers int
	}{
		{FsyncBatch, 1, 1},
		{FsyncBatch, 10, 1},
		{FsyncBatch, 100, 1},
		{FsyncBatch, 10, 8}, // concurrent Writes share an fsync
		{FsyncInterval, 100, 1},
	}
	for _, c := range cases {
		mode := map[FsyncMode]string{FsyncBatch: "batch", FsyncInterval: "interval"}[c.fsync]
		b.Run(fmt.Sprintf("fsync=%s/batch=%d/writers=%d", mode, c.batch, c.writers), func(b *testing.B) {
			w, err := OpenWriter(WriterOptions{
				Path: filepath.Join(b.TempDir(), "audit.jsonl"), MaxSize: 100 << 20, Daily: true, Compress: true,
				Fsync: c.fsync, FsyncInterval: time.Second,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			bodies := EncodeLogs(archivetest.GlassixLogs(1, c.batch))
			b.SetBytes(int64(bodiesSize(bodies)))
			b.ReportAllocs()
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			batches := 0
			for range c.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						if batches == b.N {
							mu.Unlock()
							return
						}
						batches++
						mu.Unlock()
						if err := w.Write(context.Background(), bodies); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*c.batch)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkEncodeLogs encodes 100 Glassix events: nested, as a pipeline
// without the auditlog processor hands them over, and flat, as the
// processor leaves them.
func BenchmarkEncodeLogs(b *testing.B) {
	for _, flat := range []bool{false, true} {
		b.Run(map[bool]string{false: "nested", true: "flat"}[flat], func(b *testing.B) {
			ld := archivetest.GlassixLogs(1, 100)
			if flat {
				rls := ld.ResourceLogs()
				for i := 0; i < rls.Len(); i++ {
					sls := rls.At(i).ScopeLogs()
					for j := 0; j < sls.Len(); j++ {
						lrs := sls.At(j).LogRecords()
						for k := 0; k < lrs.Len(); k++ {
							flatten.InPlace(lrs.At(k).Attributes(), flatten.Options{})
						}
					}
				}
			}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				EncodeLogs(ld)
			}
			b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	w, err := OpenWriter(WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 1 << 20, Compress: true, Fsync: FsyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	const events = 20000
	for i := 1; i <= events; i += 100 {
		if err := w.Write(context.Background(), EncodeLogs(archivetest.GlassixLogs(i, 100))); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	w, err = OpenWriter(WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 1 << 20, Compress: true})
	if err != nil {
		b.Fatal(err)
	}
	for { // let compression finish
		done := true
		files, _ := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
		for _, f := range files {
			done = done && (f.Active || f.Compressed)
		}
		if done {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Close()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		r, err := Verify(dir, VerifyOptions{})
		if err != nil || !r.Intact() {
			b.Fatal(err, r.Problems)
		}
	}
	b.ReportMetric(float64(b.N*events)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkLineCheck measures the JSON check the reader makes on every line
// (jsonpolicy.Check, the project's JSON rule) against encoding/json's Valid,
// which it replaced, on lines like those BenchmarkVerify reads. Both run in
// one process, so the machine's noise falls on both alike.
func BenchmarkLineCheck(b *testing.B) {
	bodies := EncodeLogs(archivetest.GlassixLogs(1, 100))
	lines := make([][]byte, len(bodies))
	size := 0
	s := newSealer(nil)
	for i, body := range bodies {
		lines[i], _ = s.seal(nil, uint64(i+1), [32]byte{}, body)
		size += len(lines[i])
	}
	for _, c := range []struct {
		name  string
		check func([]byte) bool
	}{
		{"json.Valid", json.Valid},
		{"jsonpolicy.Check", func(l []byte) bool { return jsonpolicy.Check(l, jsonpolicy.MaxDepth) == nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					if !c.check(l) {
						b.Fatalf("refused %s", l)
					}
				}
			}
		})
	}
}

// BenchmarkVerifySigned is auditctl verify -pubkey on a signed archive of
// 20 000 Glassix-like events (lines of about 750 bytes, a checkpoint every
// 1 000 lines), in plain and in gzipped files. Run it with -cpu 1 for the
// per-core figure the README gives.
func BenchmarkVerifySigned(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			w, err := OpenWriter(WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 1 << 20, Fsync: FsyncInterval,
				Signer: NewSigner(priv), CheckpointLines: 1000})
			if err != nil {
				b.Fatal(err)
			}
			const events = 20000
			for i := 1; i <= events; i += 100 {
				if err := w.Write(context.Background(), EncodeLogs(archivetest.GlassixLogs(i, 100))); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if compress {
				m := newMaintainer(dir, 0o600, zap.NewNop())
				files, _ := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
				for _, f := range files {
					if !f.Active {
						if err := m.compress(f.Name); err != nil {
							b.Fatal(err)
						}
					}
				}
				m.close()
			}
			keys := Keyring{}
			keys.Add(priv.Public().(ed25519.PublicKey))
			b.ReportAllocs()
			var lines int
			start, cpu := time.Now(), cpuTime()
			for b.Loop() {
				r, err := Verify(dir, VerifyOptions{Keys: keys})
				if err != nil || !r.Intact() || r.Checkpoints < 20 {
					b.Fatal(err, r.Problems)
				}
				lines += r.Lines
			}
			b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
			// Per CPU second (user + system, GC included): the per-core
			// rate, which a busy shared machine does not distort as much
			// as the wall clock.
			b.ReportMetric(float64(lines)/(cpuTime()-cpu).Seconds(), "lines/cpu-s")
		})
	}
}

// cpuTime is the CPU time the process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSigning is what signing adds per batch (the head is signed at
// every update) and per checkpoint (a signature, its token, its line).
func BenchmarkSigning(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s := NewSigner(priv)
	b.Run("head", func(b *testing.B) {
		h := Head{Seq: 123456, Hash: GenesisPrev, File: "audit.jsonl", Written: time.Now()}
		for b.Loop() {
			s.signHead(&h)
		}
	})
	b.Run("checkpoint", func(b *testing.B) {
		w := &Writer{opts: WriterOptions{Signer: s}, sealer: newSealer(nil)}
		var buf []byte
		for b.Loop() {
			c := w.newCheckpoint("audit.jsonl", 123456, [32]byte{1}, time.Now())
			buf, _ = w.sealer.seal(buf[:0], 123457, [32]byte{1}, c.body)
			_ = c.cp.Hash()
		}
	})
}
