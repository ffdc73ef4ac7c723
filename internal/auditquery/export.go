package auditquery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/otelcol-audit/otelcol-audit/internal/archive"
)

// changedSinceIndexed is the integrity error of a line whose bytes are not
// what the index read: the file was changed after it was indexed.
const changedSinceIndexed = "the line's bytes changed after the index read them (the file was modified)"

// Export calls fn for every row matching q, newest first, with the line's
// bytes as its file holds them now and the row's columns taken in full from
// them. A line that cannot be read back, or whose bytes differ from what was
// indexed, is passed marked (Integrity modified or unreadable) with what
// could be read. It stops at the first error fn returns, or when ctx ends.
func (sn *Snapshot) Export(ctx context.Context, q Query, fn func(r *Row, raw []byte) error) error {
	lists := sn.matches(q)
	lr := &lineReader{sn: sn, lists: lists, plain: map[int]*os.File{}, gz: map[int]*gzRows{}}
	defer lr.close()
	m := sn.merge(lists, nil)
	n := 0
	for r, ok := m.next(); ok; r, ok = m.next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row := sn.row(r.seg, r.row)
		raw, err := lr.line(r.seg, r.row)
		switch {
		case err != nil:
			row.Integrity, row.IntegrityError = archive.StatusUnreadable.String(), err.Error()
		case !sn.segs[r.seg].fingerprintMatches(r.row, sn.seed, raw):
			row.Integrity, row.IntegrityError = archive.StatusModified.String(), changedSinceIndexed
		}
		if raw != nil {
			full(&row, raw)
		}
		if err := fn(&row, raw); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// full replaces the row's clipped columns by the whole values in raw.
func full(r *Row, raw []byte) {
	if !r.Truncated {
		return
	}
	f := extract(raw, false)
	if !f.ok {
		return
	}
	r.Resource, r.Action, r.Actor, r.ClientAddress = f.cols[colResource], f.cols[colAction], f.cols[colActor], f.cols[colAddress]
	r.Source, r.Message, r.Truncated = f.cols[colSource], f.msg, false
}

// Line returns the current bytes of the line at file:line, with its row.
// The row is marked when the bytes differ from what was indexed.
func (sn *Snapshot) Line(file string, line int) (Row, []byte, error) {
	for k, s := range sn.segs {
		if s.file.Name != file && s.stem != file {
			continue
		}
		if line < 1 || line > s.rows() {
			return Row{}, nil, fmt.Errorf("%s has %d lines, no line %d", file, s.rows(), line)
		}
		i := uint32(line - 1)
		lr := &lineReader{sn: sn, lists: make([][]uint32, len(sn.segs)), plain: map[int]*os.File{}, gz: map[int]*gzRows{}}
		lr.lists[k] = []uint32{i}
		defer lr.close()
		row := sn.row(k, i)
		raw, err := lr.line(k, i)
		switch {
		case err != nil:
			row.Integrity, row.IntegrityError = archive.StatusUnreadable.String(), err.Error()
		case !s.fingerprintMatches(i, sn.seed, raw):
			row.Integrity, row.IntegrityError = archive.StatusModified.String(), changedSinceIndexed
		}
		if raw != nil {
			full(&row, raw)
		}
		return row, raw, nil
	}
	return Row{}, nil, fmt.Errorf("no file %q in the archive", file)
}

// lineReader reads the lines of an export. Plain files are read by offset
// through a handle opened once (it keeps reading the same file if the
// writer renames it); a gzipped file is decompressed once, keeping only the
// lines the export needs.
type lineReader struct {
	sn    *Snapshot
	lists [][]uint32
	plain map[int]*os.File
	gz    map[int]*gzRows
	buf   []byte
}

type gzRows struct {
	lines map[uint32][]byte
	err   error
}

func (lr *lineReader) close() {
	for _, f := range lr.plain {
		if f != nil {
			f.Close()
		}
	}
}

func (lr *lineReader) line(k int, i uint32) ([]byte, error) {
	s := lr.sn.segs[k]
	if g, ok := lr.gz[k]; ok {
		return g.get(i)
	}
	if !s.file.Compressed {
		f, ok := lr.plain[k]
		if !ok {
			f = openSame(lr.sn.arch, s)
			lr.plain[k] = f
		}
		if f != nil {
			lr.buf = append(lr.buf[:0], make([]byte, s.size[i])...)
			if _, err := f.ReadAt(lr.buf, s.off[i]); err != nil {
				return nil, fmt.Errorf("reading %s: %w", s.describe(i), err)
			}
			return lr.buf, nil
		}
	}
	g := lr.loadGz(k)
	lr.gz[k] = g
	return g.get(i)
}

func (g *gzRows) get(i uint32) ([]byte, error) {
	if raw, ok := g.lines[i]; ok {
		delete(g.lines, i)
		return raw, nil
	}
	if g.err != nil {
		return nil, g.err
	}
	return nil, errors.New("the line is no longer in its file")
}

// loadGz decompresses segment k's file (or the .gz its plain file became)
// and keeps the lines the export needs.
func (lr *lineReader) loadGz(k int) *gzRows {
	s := lr.sn.segs[k]
	want := make(map[uint32]bool, len(lr.lists[k]))
	for _, i := range lr.lists[k] {
		want[i] = true
	}
	g := &gzRows{lines: make(map[uint32][]byte, len(want))}
	f, _, ok := statFile(s.file)
	if !ok {
		g.err = fmt.Errorf("%s: %w", s.file.Name, fs.ErrNotExist)
		return g
	}
	for e := range lr.sn.arch.FileEntries(f, 0, 0, nil) {
		if e.Status == archive.StatusUnreadable {
			g.err = e.Err
			break
		}
		if i := uint32(e.Line - 1); want[i] {
			g.lines[i] = e.Raw
		}
	}
	return g
}

// openSame opens segment s's plain file, making sure it is the file that
// was indexed: the active file may have been rotated (renamed) since, and
// is then found under its rotated name. nil when it is gone (compressed
// or removed).
func openSame(a *archive.Archive, s *segment) *os.File {
	try := func(path string) *os.File {
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		if info, err := f.Stat(); err == nil && os.SameFile(info, s.info) {
			return f
		}
		f.Close()
		return nil
	}
	if f := try(s.file.Path); f != nil {
		return f
	}
	files, err := a.Files()
	if err != nil {
		return nil
	}
	for _, other := range files {
		if !other.Compressed {
			if f := try(other.Path); f != nil {
				return f
			}
		}
	}
	return nil
}
