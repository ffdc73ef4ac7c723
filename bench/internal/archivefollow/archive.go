// Package archivefollow follows the archive a collector writes during a load run
// and records the events in it by their ids.
//
// It reads every file in the archive's folder whose name starts like the
// archive's and ends in its extension (so rotated files are counted too), remembers how far it read
// each one by inode (a rename during rotation does not make it read a file
// twice) and only reads complete lines (a line being written is read on the
// next poll). Compressed rotated files are listed, not read.
//
// Reading costs CPU on the cores being measured, so a load run does not
// read while it measures: it takes a Mark (each file's size: a stat per
// file) at each edge of the window and reads afterwards, up to each mark
// in turn, which tells what was in the archive at that moment exactly as a
// read then would have.
package archivefollow // import "github.com/otelcol-audit/otelcol-audit/bench/internal/archivefollow"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// Stats says what the tailer has read.
type Stats struct {
	Files int    `json:"files"`
	Lines uint64 `json:"lines"`
	Bytes uint64 `json:"bytes"`
	// Compressed lists rotated files the tailer could not count.
	Compressed []string `json:"compressed,omitempty"`
	// Vanished lists files a mark saw that were gone, or shorter, when
	// the tailer read up to it: lines the tailer never read.
	Vanished []string `json:"vanished,omitempty"`
}

// Mark is how long each archive file was at one moment, by inode.
type Mark struct {
	sizes map[uint64]fileSize
}

type fileSize struct {
	name string
	size int64
}

// Tailer follows one archivefollow.
type Tailer struct {
	dir, stem, ext string
	scheme         loadid.Scheme
	events         *loadid.Set

	mu      sync.Mutex
	offsets map[uint64]int64 // by inode
	stats   Stats
	seqs    []uint64
	reader  *bufio.Reader
	long    []byte
}

// New follows the archive at path (which need not exist yet), adding the
// ids of scheme found on each line to events.
func New(path string, scheme loadid.Scheme, events *loadid.Set) *Tailer {
	base := filepath.Base(path)
	return &Tailer{
		dir:     filepath.Dir(path),
		stem:    strings.TrimSuffix(base, filepath.Ext(base)),
		ext:     filepath.Ext(base),
		scheme:  scheme,
		events:  events,
		offsets: map[uint64]int64{},
	}
}

// Poll reads what was appended to the archive's files since the last poll.
func (t *Tailer) Poll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	files, err := t.files()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := t.readNew(f.path, -1); err != nil {
			return err
		}
	}
	return nil
}

// Mark returns how long each of the archive's files is now. It reads
// nothing.
func (t *Tailer) Mark() (Mark, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := Mark{sizes: map[uint64]fileSize{}}
	files, err := t.files()
	if err != nil {
		return m, err
	}
	for _, f := range files {
		info, err := os.Stat(f.path)
		if errors.Is(err, fs.ErrNotExist) { // rotated away meanwhile: its new name is listed next time
			continue
		}
		if err != nil {
			return m, err
		}
		inode, err := inodeOf(f.path, info)
		if err != nil {
			return m, err
		}
		m.sizes[inode] = fileSize{name: f.name, size: info.Size()}
	}
	return m, nil
}

// PollTo reads the complete lines that each file held when m was taken,
// and no further: after it, the events recorded are those that were in
// the archive at that moment (and any read before). A file the mark saw
// that is gone now, or shorter than the tailer has yet to read, is listed
// in Stats.Vanished.
func (t *Tailer) PollTo(m Mark) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	files, err := t.files()
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for _, f := range files {
		info, err := os.Stat(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		inode, err := inodeOf(f.path, info)
		if err != nil {
			return err
		}
		limit, ok := m.sizes[inode]
		if !ok {
			continue // created after the mark
		}
		seen[inode] = true
		if info.Size() < limit.size {
			t.vanished(fmt.Sprintf("%s (inode %d): %d bytes at the mark, %d now", limit.name, inode, limit.size, info.Size()))
		}
		if err := t.readNew(f.path, limit.size); err != nil {
			return err
		}
	}
	for inode, limit := range m.sizes {
		if !seen[inode] && t.offsets[inode] < limit.size {
			t.vanished(fmt.Sprintf("%s (inode %d): gone with %d bytes unread", limit.name, inode, limit.size-t.offsets[inode]))
		}
	}
	return nil
}

func (t *Tailer) vanished(what string) {
	if !slices.Contains(t.stats.Vanished, what) {
		t.stats.Vanished = append(t.stats.Vanished, what)
	}
}

type archiveFile struct{ name, path string }

// files lists the archive's uncompressed files and updates the file
// counts of the stats.
func (t *Tailer) files() ([]archiveFile, error) {
	entries, err := os.ReadDir(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.stats.Files = 0
	t.stats.Compressed = t.stats.Compressed[:0]
	var files []archiveFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, t.stem) {
			continue
		}
		if plain, ok := compressedName(name); ok {
			if strings.HasSuffix(plain, t.ext) {
				t.stats.Compressed = append(t.stats.Compressed, name)
			}
			continue
		}
		// Files beside the archive that are not archive data, such as
		// otelcol-audit's head file (audit.jsonl.head, replaced on every
		// write) or a temporary file, do not end in the extension.
		if !strings.HasSuffix(name, t.ext) {
			continue
		}
		t.stats.Files++
		files = append(files, archiveFile{name: name, path: filepath.Join(t.dir, name)})
	}
	return files, nil
}

func inodeOf(path string, info fs.FileInfo) (uint64, error) {
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("archive %s: no inode on this platform", path)
	}
	return sys.Ino, nil
}

// Stats returns what has been read so far.
func (t *Tailer) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stats
	st.Compressed = slices.Clone(t.stats.Compressed)
	st.Vanished = slices.Clone(t.stats.Vanished)
	return st
}

// compressedName returns name without its compression suffix, if it has
// one.
func compressedName(name string) (string, bool) {
	for _, ext := range []string{".gz", ".zst", ".zstd", ".bz2", ".xz", ".lz4", ".snappy"} {
		if plain, ok := strings.CutSuffix(name, ext); ok {
			return plain, true
		}
	}
	return name, false
}

// readNew reads the complete lines of path from where the last read of
// its inode stopped, up to limit bytes into the file (-1: to the end).
func (t *Tailer) readNew(path string, limit int64) error {
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
	inode, err := inodeOf(path, info)
	if err != nil {
		return err
	}
	offset := t.offsets[inode]
	if info.Size() < offset { // truncated in place: start again
		offset = 0
	}
	end := info.Size()
	if limit >= 0 {
		end = min(end, limit)
	}
	if end <= offset {
		return nil
	}
	// Read through a reused buffer: an archive grows by gigabytes in a
	// long run, and the harness shares the cores it measures.
	if t.reader == nil {
		t.reader = bufio.NewReaderSize(nil, 1<<20)
	}
	t.reader.Reset(io.NewSectionReader(f, offset, end-offset))
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
