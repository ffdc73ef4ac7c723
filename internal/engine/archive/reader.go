package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"slices"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// Status is what the reader found about one line.
type Status int

const (
	// StatusOK: a well-formed line whose hash (and HMAC, when a key is set)
	// matches its content and which follows the line before it in the chain.
	// The oldest line of an archive has no line before it; see Verify for
	// how its start is checked.
	StatusOK Status = iota
	// StatusIncomplete: the file ends in a line without its newline: a
	// write in progress, a crash (the writer cuts it away at its next
	// start), or a file cut mid-line.
	StatusIncomplete
	// StatusMalformed: not an archive line (bad JSON, JSON that breaks the
	// project's rule of internal/jsonpolicy such as a repeated member name
	// or invalid UTF-8, bad chain fields, longer than MaxLineSize).
	StatusMalformed
	// StatusModified: the content does not match its hash, or the HMAC does
	// not match, or is missing while a key is set.
	StatusModified
	// StatusUnlinked: a sound line that does not follow the line before it:
	// lines were removed, reordered or inserted, or its predecessor was
	// changed and re-hashed.
	StatusUnlinked
	// StatusUnreadable: the rest of the file could not be read (I/O error,
	// damaged gzip stream). Line is the first line not read.
	StatusUnreadable
)

var statusNames = [...]string{"ok", "incomplete", "malformed", "modified", "unlinked", "unreadable"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Entry is one line of the archive as the reader found it.
type Entry struct {
	File string // the file's name within the archive directory
	Line int    // 1-based line number within the file
	// Offset is the line's byte offset within its file (within the
	// decompressed stream for a gzipped file).
	Offset int64
	Raw    []byte // the line without its newline (at most 1 KiB of an over-long line)
	Status Status
	Err    error // what is wrong, when Status is not StatusOK
	// Seal holds the chain fields. HasSeal is false when they could not be
	// read (malformed, incomplete, unreadable).
	Seal    Seal
	HasSeal bool
	// Hint is what the line holds for an index, as its writer in this
	// process encoded it (see IndexHint); nil for a line read from a file.
	Hint *IndexHint
}

// Decode decodes the entry's line into an Event.
func (e Entry) Decode() (Event, error) {
	if e.Status == StatusUnreadable {
		return Event{}, e.Err
	}
	return DecodeEvent(e.Raw)
}

// IsMarker reports, without decoding the whole line, whether the entry is a
// marker line.
func (e Entry) IsMarker() bool {
	return e.HasSeal && bytes.HasPrefix(e.Raw[e.Seal.bodyStart:], []byte(`"marker":`))
}

// Archive reads an archive. It never writes.
type Archive struct {
	Layout Layout
	key    []byte
}

// Open finds the archive at path: the exporter's `path` (the active file)
// or the directory holding it.
func Open(path string) (*Archive, error) {
	l, err := Discover(path)
	if err != nil {
		return nil, err
	}
	return &Archive{Layout: l}, nil
}

// SetHMACKey makes the reader check every line's HMAC with key.
func (a *Archive) SetHMACKey(key []byte) { a.key = bytes.Clone(key) }

// Files lists the archive's data files, oldest first.
func (a *Archive) Files() ([]File, error) { return a.Layout.Files() }

// Head reads the archive's head file.
func (a *Archive) Head() (Head, error) { return ReadHead(a.Layout.HeadPath()) }

// Entries yields every line of the archive, oldest first: rotated files in
// time order (gzipped ones decompressed on the fly), then the active file.
// The error is set only when the archive's files cannot be listed; problems
// with one file are reported as StatusUnreadable entries.
func (a *Archive) Entries() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		files, err := a.Files()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		c := newChecker(a.key)
		for _, f := range files {
			stopped := false
			err := forEachLineFrom(f, 0, 0, func(no int, off int64, raw []byte, terminated, overlong bool) bool {
				e := c.check(f.Name, no, raw, terminated, overlong)
				e.Offset = off
				c.link(&e)
				if !yield(e, nil) {
					stopped = true
				}
				return !stopped
			})
			if stopped {
				return
			}
			if err != nil {
				if !yield(unreadable(f, err), nil) {
					return
				}
			}
		}
	}
}

// EntriesBackward yields every line of the archive, newest first, with the
// same statuses Entries gives. A gzipped file is decompressed into memory
// (rotated files are bounded by the rotation size); plain files are read
// with an index of line offsets.
func (a *Archive) EntriesBackward() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		files, err := a.Files()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		c := newChecker(a.key)
		// queue holds lines waiting for the nearest older sealed line: the
		// first is the newest sealed line read, to be checked against it
		// (as Entries checks each line against the sealed line before it);
		// unsealed lines read since wait behind it to keep the order.
		var queue []Entry
		flush := func() bool {
			for _, e := range queue {
				if !yield(e, nil) {
					return false
				}
			}
			queue = queue[:0]
			return true
		}
		emit := func(e *Entry) bool {
			if e.HasSeal && len(queue) > 0 && queue[0].HasSeal {
				linkTo(&queue[0], &e.Seal)
			}
			if e.HasSeal || len(queue) == 0 || !queue[0].HasSeal {
				if !flush() {
					return false
				}
			}
			queue = append(queue, *e)
			if !queue[0].HasSeal {
				return flush()
			}
			return true
		}
		for i := len(files) - 1; i >= 0; i-- {
			f := files[i]
			stopped := false
			err := forEachLineBackward(f, func(err error) bool {
				e := unreadable(f, err)
				stopped = !emit(&e)
				return !stopped
			}, func(no int, off int64, raw []byte, terminated, overlong bool) bool {
				e := c.check(f.Name, no, raw, terminated, overlong)
				e.Offset = off
				stopped = !emit(&e)
				return !stopped
			})
			if stopped {
				return
			}
			if err != nil {
				e := unreadable(f, err)
				if !emit(&e) {
					return
				}
			}
		}
		flush()
	}
}

// FileEntries yields the lines of one data file f, starting at byte offset
// from, which must be the start of a line (0 for the whole file; the end of
// the last line read, to continue reading a file that grows). skipped is
// the number of lines before from, so line numbers continue. Each line is
// checked as Entries checks it and linked to the sealed line before it:
// pred, when given (the last sealed line before from, or the previous
// file's last), then each other. A gzipped file is decompressed from its
// start. Problems reading the file are reported as a StatusUnreadable
// entry, as by Entries.
func (a *Archive) FileEntries(f File, from int64, skipped int, pred *Seal) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		c := newChecker(a.key)
		c.follow(pred)
		stopped := false
		err := forEachLineFrom(f, from, skipped, func(no int, off int64, raw []byte, terminated, overlong bool) bool {
			e := c.check(f.Name, no, raw, terminated, overlong)
			e.Offset = off
			c.link(&e)
			stopped = !yield(e)
			return !stopped
		})
		if err != nil && !stopped {
			yield(unreadable(f, err))
		}
	}
}

// Link checks that e, a line read without knowing the sealed line before
// it (the first line of a file read alone with FileEntries), follows pred
// in the chain. When it does not, e becomes StatusUnlinked with the reason,
// as Entries would have found it.
func Link(e *Entry, pred *Seal) { linkTo(e, pred) }

func unreadable(f File, err error) Entry {
	var le *lineError
	line := 1
	if errors.As(err, &le) {
		line, err = le.line, le.err
	}
	return Entry{File: f.Name, Line: line, Status: StatusUnreadable, Err: fmt.Errorf("cannot read %s from line %d on: %w", f.Name, line, err)}
}

// checker checks lines and links each to the previous sealed line.
type checker struct {
	mac *sealer
	// The previous sealed line's seal, held by value: a pointer to a copy
	// made for each line cost an allocation per line.
	pred    Seal
	hasPred bool
}

// follow links the next sealed line to pred, when given.
func (c *checker) follow(pred *Seal) {
	if pred != nil {
		c.pred, c.hasPred = *pred, true
	}
}

func newChecker(key []byte) *checker {
	c := &checker{}
	if len(key) > 0 {
		c.mac = newSealer(key)
	}
	return c
}

func (c *checker) check(file string, no int, raw []byte, terminated, overlong bool) Entry {
	// Entries outlive the reader's buffers.
	raw = bytes.Clone(raw)
	e := Entry{File: file, Line: no, Raw: raw}
	switch {
	case overlong:
		e.Status, e.Err = StatusMalformed, fmt.Errorf("line longer than %d bytes", MaxLineSize)
		return e
	case !terminated:
		e.Status, e.Err = StatusIncomplete, errors.New("incomplete last line (no newline)")
		return e
	}
	s, err := parseSeal(raw)
	if err != nil {
		e.Status, e.Err = StatusMalformed, err
		return e
	}
	// The project's JSON rule (internal/jsonpolicy): a repeated name or
	// invalid UTF-8 is no more an archive line than broken JSON is.
	if err := jsonpolicy.Check(raw, jsonpolicy.MaxDepth); err != nil {
		e.Status, e.Err = StatusMalformed, fmt.Errorf("not an archive line: %w", err)
		return e
	}
	e.Seal, e.HasSeal = s, true
	if sha256.Sum256(s.hashed) != s.Hash {
		e.Status, e.Err = StatusModified, errors.New("content does not match its hash")
	} else if c.mac != nil {
		if s.HMAC == nil {
			e.Status, e.Err = StatusModified, errors.New("no HMAC on a line of a keyed archive")
		} else if !hmac.Equal(s.HMAC, c.mac.lineMAC(s.Hash)) {
			e.Status, e.Err = StatusModified, errors.New("HMAC does not match: the line was changed and re-hashed without the key, or the key is wrong")
		}
	}
	return e
}

// link checks e against the previous sealed line of a forward scan.
func (c *checker) link(e *Entry) {
	if !e.HasSeal {
		return
	}
	if c.hasPred {
		linkTo(e, &c.pred)
	}
	c.pred, c.hasPred = e.Seal, true
}

// linkTo checks that e follows pred in the chain.
func linkTo(e *Entry, pred *Seal) {
	if !e.HasSeal || e.Status != StatusOK {
		return
	}
	s := e.Seal
	switch {
	case s.Seq == pred.Seq+1 && s.Prev == pred.Hash:
		return
	case s.Seq == pred.Seq+1:
		e.Err = fmt.Errorf("prev does not match the hash of the line before it (seq %d)", pred.Seq)
	case s.Seq > pred.Seq+1:
		e.Err = fmt.Errorf("seq %d follows seq %d: %s missing here (removed, or moved elsewhere: reordered; auditctl verify tells which)", s.Seq, pred.Seq, plural(s.Seq-pred.Seq-1, "line"))
	default:
		e.Err = fmt.Errorf("seq %d follows seq %d: reordered", s.Seq, pred.Seq)
	}
	e.Status = StatusUnlinked
}

// lineError carries the line number at which reading a file failed.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// openFile opens a data file for reading, decompressing gzip. A rotated file
// may have been compressed since it was listed; then its .gz is opened.
func openFile(f File) (io.ReadCloser, error) {
	path, compressed := f.Path, f.Compressed
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !f.Active && !compressed {
		path, compressed = path+gzipSuffix, true
		fh, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	if !compressed {
		return fh, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(fh, 64<<10))
	if err != nil {
		fh.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, fh}, nil
}

// forEachLine calls fn for every line of f. raw is only valid during the
// call. An over-long line is passed with its first KiB and overlong set.
func forEachLine(f File, fn func(no int, raw []byte, terminated, overlong bool) bool) error {
	return forEachLineFrom(f, 0, 0, func(no int, _ int64, raw []byte, terminated, overlong bool) bool {
		return fn(no, raw, terminated, overlong)
	})
}

// forEachLineFrom calls fn for every line of f from byte offset from (a
// line start), numbering lines after skipped, the number of lines before
// from, and passing each line's offset in the file. A gzipped file is
// decompressed up to from and the bytes before it discarded.
func forEachLineFrom(f File, from int64, skipped int, fn func(no int, off int64, raw []byte, terminated, overlong bool) bool) error {
	rc, err := openFile(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	if from > 0 {
		if s, ok := rc.(io.Seeker); ok {
			_, err = s.Seek(from, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, rc, from)
		}
		if err != nil {
			return &lineError{line: skipped + 1, err: err}
		}
	}
	err = scanLines(rc, func(no int, off int64, raw []byte, terminated, overlong bool) bool {
		return fn(skipped+no, from+off, raw, terminated, overlong)
	})
	var le *lineError
	if errors.As(err, &le) {
		le.line += skipped
	}
	return err
}

// scanLines splits r into lines, tracking each line's offset. raw is only
// valid during the call. Lines longer than MaxLineSize are not buffered
// whole: fn gets their first KiB with overlong set.
func scanLines(r io.Reader, fn func(no int, off int64, raw []byte, terminated, overlong bool) bool) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		acc      []byte // a line longer than br's buffer, so far
		long     bool
		no       int
		off, pos int64
	)
	for {
		chunk, err := br.ReadSlice('\n')
		pos += int64(len(chunk))
		switch {
		case err == nil:
			no++
			line := chunk[:len(chunk)-1]
			if len(acc) > 0 {
				line = append(acc, line...)
			}
			if !fn(no, off, clip(line), true, long || len(line) > MaxLineSize) {
				return nil
			}
			acc, long, off = acc[:0], false, pos
		case errors.Is(err, bufio.ErrBufferFull):
			if !long {
				acc = append(acc, chunk...)
				if len(acc) > MaxLineSize {
					acc, long = acc[:1024], true
				}
			}
		case errors.Is(err, io.EOF):
			if len(chunk) > 0 || len(acc) > 0 {
				line := append(acc, chunk...)
				fn(no+1, off, clip(line), false, long || len(line) > MaxLineSize)
			}
			return nil
		default:
			return &lineError{line: no + 1, err: err}
		}
	}
}

// clip keeps the first KiB of an over-long line for display.
func clip(line []byte) []byte {
	if len(line) > MaxLineSize {
		return line[:1024]
	}
	return line
}

// forEachLineBackward calls fn for every line of f, last line first. A
// gzipped file is decompressed into memory; a plain file is indexed, then
// read line by line. When the file cannot be read to its end, damaged is
// called first (the damage comes after the lines that could be read).
func forEachLineBackward(f File, damaged func(error) bool, fn func(no int, off int64, raw []byte, terminated, overlong bool) bool) error {
	rc, err := openFile(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	ra, plain := rc.(io.ReaderAt)
	type ref struct {
		off                  int64
		n                    int
		terminated, overlong bool
		data                 []byte // the line (gzip) or its first KiB (over-long)
	}
	var refs []ref
	scanErr := scanLines(rc, func(_ int, off int64, raw []byte, terminated, overlong bool) bool {
		r := ref{off: off, n: len(raw), terminated: terminated, overlong: overlong}
		if !plain || overlong {
			r.data = bytes.Clone(raw)
		}
		refs = append(refs, r)
		return true
	})
	if scanErr != nil && !damaged(scanErr) {
		return nil
	}
	var buf []byte
	for i := len(refs) - 1; i >= 0; i-- {
		r := refs[i]
		raw := r.data
		if plain && !r.overlong {
			buf = slices.Grow(buf[:0], r.n)[:r.n]
			if _, err := ra.ReadAt(buf, r.off); err != nil {
				return &lineError{line: i + 1, err: err}
			}
			raw = buf
		}
		if !fn(i+1, r.off, raw, r.terminated, r.overlong) {
			return nil
		}
	}
	return nil
}
