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
	"bytes"
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

	"github.com/otelcol-audit/otelcol-audit/bench/internal/eventid"
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
	data, err := io.ReadAll(io.NewSectionReader(f, offset, info.Size()-offset))
	if err != nil {
		return err
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	for line := range bytes.Lines(data[:complete]) {
		t.stats.Lines++
		t.seqs = t.seqs[:0]
		t.scheme.Scan(line, func(seq uint64) { t.seqs = append(t.seqs, seq) })
		t.events.AddAll(t.seqs)
	}
	t.stats.Bytes += uint64(complete)
	t.offsets[inode] = offset + int64(complete)
	return nil
}
