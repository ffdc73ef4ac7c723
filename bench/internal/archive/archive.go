// Package archive follows the archive a collector writes during a load run
// and records the events in it by their ids.
//
// It reads every file in the archive's folder whose name starts like the
// archive's (so rotated files are counted too), remembers how far it read
// each one by inode (a rename during rotation does not make it read a file
// twice) and only reads complete lines (a line being written is read on the
// next poll). Compressed rotated files are listed, not read.
package archive // import "github.com/otelcol-audit/otelcol-audit/bench/internal/archive"

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/loadtest/eventid"
)

// Stats says what the tailer has read.
type Stats struct {
	Files int    `json:"files"`
	Lines uint64 `json:"lines"`
	Bytes uint64 `json:"bytes"`
	// Compressed lists rotated files the tailer could not count.
	Compressed []string `json:"compressed,omitempty"`
}

// Tailer follows one archive.
type Tailer struct {
	dir, stem string
	scheme    eventid.Scheme
	events    *eventid.Set

	mu      sync.Mutex
	offsets map[uint64]int64 // by inode
	stats   Stats
	seqs    []uint64
	reader  *bufio.Reader
	long    []byte
}

// New follows the archive at path (which need not exist yet), adding the
// ids of scheme found on each line to events.
func New(path string, scheme eventid.Scheme, events *eventid.Set) *Tailer {
	base := filepath.Base(path)
	return &Tailer{
		dir:     filepath.Dir(path),
		stem:    strings.TrimSuffix(base, filepath.Ext(base)),
		scheme:  scheme,
		events:  events,
		offsets: map[uint64]int64{},
	}
}

// Run polls every interval until ctx is done, then polls a last time.
func (t *Tailer) Run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.Poll()
		case <-tick.C:
			if err := t.Poll(); err != nil {
				return err
			}
		}
	}
}

// Poll reads what was appended to the archive's files since the last poll.
func (t *Tailer) Poll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := os.ReadDir(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t.stats.Files = 0
	t.stats.Compressed = t.stats.Compressed[:0]
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, t.stem) {
			continue
		}
		if isCompressed(name) {
			t.stats.Compressed = append(t.stats.Compressed, name)
			continue
		}
		t.stats.Files++
		if err := t.readNew(filepath.Join(t.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// Stats returns what has been read so far.
func (t *Tailer) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stats
	st.Compressed = append([]string(nil), t.stats.Compressed...)
	return st
}

func isCompressed(name string) bool {
	for _, ext := range []string{".gz", ".zst", ".zstd", ".bz2", ".xz", ".lz4", ".snappy"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func (t *Tailer) readNew(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) { // rotated away between ReadDir and Open
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("archive %s: no inode on this platform", path)
	}
	inode := sys.Ino
	offset := t.offsets[inode]
	if info.Size() < offset { // truncated in place: start again
		offset = 0
	}
	if info.Size() == offset {
		return nil
	}
	// Read through a reused buffer: an archive grows by gigabytes in a
	// long run, and the harness shares the cores it measures.
	if t.reader == nil {
		t.reader = bufio.NewReaderSize(nil, 1<<20)
	}
	t.reader.Reset(io.NewSectionReader(f, offset, info.Size()-offset))
	var complete int64
	for {
		line, err := t.reader.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a long line (an OTLP batch): gather it
			t.long = append(t.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = t.reader.ReadSlice('\n')
				t.long = append(t.long, line...)
			}
			line = t.long
		}
		if err != nil { // io.EOF: what is left is a line still being written
			if !errors.Is(err, io.EOF) {
				return err
			}
			break
		}
		complete += int64(len(line))
		t.stats.Lines++
		t.seqs = t.seqs[:0]
		t.scheme.Scan(line, func(seq uint64) { t.seqs = append(t.seqs, seq) })
		t.events.AddAll(t.seqs)
	}
	t.stats.Bytes += uint64(complete)
	t.offsets[inode] = offset + complete
	return nil
}
