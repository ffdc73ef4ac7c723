package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// ensureDir creates dir with mode when it does not exist. The mode is set
// explicitly, because the process umask would otherwise decide it.
func ensureDir(dir string, mode fs.FileMode) error {
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dir)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := durable.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// syncDir makes renames and creations in dir durable.
func syncDir(dir string) error { return durable.SyncDir(dir) }

// openAppend opens the active file for appending. A new file gets mode
// exactly (whatever the umask); an existing one keeps the mode it has.
func openAppend(path string, mode fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, mode)
	switch {
	case err == nil:
		if err := f.Chmod(mode); err != nil {
			f.Close()
			return nil, err
		}
	case errors.Is(err, fs.ErrExist):
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	return f, nil
}

// lineStart returns the offset just after the last '\n' before end in r (0
// when there is none). It reads backwards at most MaxLineSize bytes.
func lineStart(r io.ReaderAt, end int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	pos := end
	for pos > 0 && end-pos <= MaxLineSize {
		n := int64(chunk)
		if pos < n {
			n = pos
		}
		pos -= n
		if _, err := r.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
	}
	if pos == 0 {
		return 0, nil
	}
	return 0, fmt.Errorf("no line break in the last %d bytes", MaxLineSize)
}

// lastLine returns the last whole line of a file of size bytes whose last
// byte is '\n', without the newline.
func lastLine(r io.ReaderAt, size int64) ([]byte, error) {
	start, err := lineStart(r, size-1)
	if err != nil {
		return nil, err
	}
	line := make([]byte, size-1-start)
	_, err = r.ReadAt(line, start)
	return line, err
}

// firstSeal reads the chain fields of a file's first line.
func firstSeal(f File) (Seal, error) {
	var (
		s      Seal
		perr   error
		gotOne bool
	)
	err := forEachLine(f, func(_ int, raw []byte, terminated, _ bool) bool {
		gotOne = true
		if !terminated {
			perr = errors.New("first line is incomplete")
			return false
		}
		s, perr = parseSeal(bytes.Clone(raw))
		return false
	})
	switch {
	case err != nil:
		return Seal{}, err
	case !gotOne:
		return Seal{}, fmt.Errorf("%s is empty", f.Name)
	}
	return s, perr
}

// lastSealIn reads a whole file and returns the chain fields of its last
// line that has them. found is false when no line has.
func lastSealIn(f File) (s Seal, found bool, err error) {
	err = forEachLine(f, func(_ int, raw []byte, terminated, overlong bool) bool {
		if !terminated || overlong {
			return true
		}
		if ps, perr := parseSeal(bytes.Clone(raw)); perr == nil {
			s, found = ps, true
		}
		return true
	})
	return s, found, err
}
