package auditquery

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// changedSinceIndexed is the integrity error of a line whose bytes are not
// what the index read: the file was changed after it was indexed.
const changedSinceIndexed = "the line's bytes changed after the index read them (the file was modified)"

// Export calls fn for every row matching q, newest first, with the row's
// columns in full. With raw set, or when a column was cut for the index,
// or when the line is in a plain file (cheap to read again), the line is
// read back from its file and passed: a line that cannot be read back, or
// whose bytes differ from what was indexed, is passed marked (Integrity
// modified or unreadable) with what could be read. Without raw, a gzipped
// file is read only for rows whose columns were cut: its lines were
// checked when it was indexed, and it is indexed again whenever its size
// or modification time changes. Export stops at the first error fn
// returns, or when ctx ends.
func (sn *Snapshot) Export(ctx context.Context, q Query, raw bool, fn func(r *Row, raw []byte) error) error {
	lists := sn.matches(q)
	lr := &lineReader{sn: sn, lists: lists, plain: map[int]*os.File{}, gz: map[int]*gzRows{}}
	if !raw {
		lr.need = func(k int, i uint32) bool { return sn.segs[k].flags[i]&flagTruncated != 0 }
	}
	defer lr.close()
	m := sn.merge(lists, nil)
	n := 0
	for r, ok := m.next(); ok; r, ok = m.next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row := sn.row(r.seg, r.row)
		s := sn.segs[r.seg]
		var line []byte
		if raw || row.Truncated || !s.file.Compressed {
			var err error
			line, err = lr.line(r.seg, r.row)
			switch {
			case err != nil:
				row.Integrity, row.IntegrityError = archive.StatusUnreadable.String(), err.Error()
			case !s.fingerprintMatches(r.row, sn.seed, line):
				row.Integrity, row.IntegrityError = archive.StatusModified.String(), changedSinceIndexed
			}
			if line != nil {
				full(&row, line)
			}
		}
		if err := fn(&row, line); err != nil {
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
	// need, when set, says which rows of a gzipped file are read.
	need func(k int, i uint32) bool
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
// and keeps the lines the export needs, found by their offsets in the
// decompressed stream; they are checked against their fingerprints after.
func (lr *lineReader) loadGz(k int) *gzRows {
	s := lr.sn.segs[k]
	rows := slices.Clone(lr.lists[k])
	if lr.need != nil {
		rows = slices.DeleteFunc(rows, func(i uint32) bool { return !lr.need(k, i) })
	}
	slices.SortFunc(rows, func(a, b uint32) int { return cmp.Compare(s.off[a], s.off[b]) })
	g := &gzRows{lines: make(map[uint32][]byte, len(rows))}
	f, _, ok := statFile(s.file)
	if !ok {
		g.err = fmt.Errorf("%s: %w", s.file.Name, fs.ErrNotExist)
		return g
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		g.err = err
		return g
	}
	defer fh.Close()
	var r io.Reader = bufio.NewReaderSize(fh, 256<<10)
	if f.Compressed {
		zr, err := gzip.NewReader(r)
		if err != nil {
			g.err = fmt.Errorf("%s: %w", f.Name, err)
			return g
		}
		r = zr
	}
	pos := int64(0)
	for _, i := range rows {
		if _, err := io.CopyN(io.Discard, r, s.off[i]-pos); err != nil {
			g.err = fmt.Errorf("%s: %w", s.describe(i), err)
			return g
		}
		line := make([]byte, s.size[i])
		if _, err := io.ReadFull(r, line); err != nil {
			g.err = fmt.Errorf("%s: %w", s.describe(i), err)
			return g
		}
		g.lines[i] = line
		pos = s.off[i] + int64(len(line))
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
