package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// rotatedTimeLayout is the UTC time in a rotated file's name. It has a fixed
// width, so names sort in time order.
const rotatedTimeLayout = "20060102T150405.000000000Z"

// gzipSuffix marks a compressed rotated file.
const gzipSuffix = ".gz"

// tmpSuffix marks files being written (compressed copy, head). A crash can
// leave them behind; the writer removes them at start.
const tmpSuffix = ".tmp"

// Layout names the files of one archive. For path ./data/audit.jsonl:
//
//	./data/audit.jsonl                                   the active file
//	./data/audit-20250102T030405.123456789Z.jsonl[.gz]   rotated files, named by rotation time (UTC)
//	./data/audit.jsonl.head                              the head: seq and hash of the last line written
//	./data/audit.jsonl.partial-20250102T030405.123456789Z  a partial line removed at start after a crash
type Layout struct {
	Dir  string // the directory holding the archive
	Base string // the active file's name without its extension: "audit"
	Ext  string // the active file's extension: ".jsonl" (may be empty)
}

// LayoutFor returns the layout of the archive whose active file is path.
func LayoutFor(path string) Layout {
	dir, name := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(name)
	if ext == name { // ".jsonl": a hidden file with no extension
		ext = ""
	}
	return Layout{Dir: filepath.Clean(dir), Base: strings.TrimSuffix(name, ext), Ext: ext}
}

// ActiveName is the active file's name.
func (l Layout) ActiveName() string { return l.Base + l.Ext }

// ActivePath is the active file's path.
func (l Layout) ActivePath() string { return filepath.Join(l.Dir, l.ActiveName()) }

// HeadPath is the head file's path.
func (l Layout) HeadPath() string { return l.ActivePath() + ".head" }

// RotatedName is the name a file rotated at t gets (uncompressed).
func (l Layout) RotatedName(t time.Time) string {
	return l.Base + "-" + t.UTC().Format(rotatedTimeLayout) + l.Ext
}

func (l Layout) partialName(t time.Time) string {
	return l.ActiveName() + ".partial-" + t.UTC().Format(rotatedTimeLayout)
}

// parseRotated reports whether name is one of this archive's rotated files,
// and if so its rotation time and whether it is compressed.
func (l Layout) parseRotated(name string) (t time.Time, compressed, ok bool) {
	rest, found := strings.CutPrefix(name, l.Base+"-")
	if !found {
		return time.Time{}, false, false
	}
	if s, gz := strings.CutSuffix(rest, gzipSuffix); gz {
		rest, compressed = s, true
	}
	stamp, found := strings.CutSuffix(rest, l.Ext)
	if !found || len(stamp) != len(rotatedTimeLayout) {
		return time.Time{}, false, false
	}
	t, err := time.Parse(rotatedTimeLayout, stamp)
	if err != nil {
		return time.Time{}, false, false
	}
	return t, compressed, true
}

// File is one data file of an archive.
type File struct {
	Name       string    // name within the archive's directory
	Path       string    // full path
	Rotated    time.Time // rotation time; zero for the active file
	Compressed bool      // gzip
	Active     bool      // the file being written
}

// Files lists the archive's data files oldest first: rotated files in name
// (= time) order, then the active file if it exists. When a rotated file
// exists both plain and gzipped (a crash during compression), the plain one
// is listed: it is the original.
func (l Layout) Files() ([]File, error) {
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return nil, err
	}
	byStem := map[string]File{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		t, gz, ok := l.parseRotated(e.Name())
		if !ok {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), gzipSuffix)
		if prev, dup := byStem[stem]; dup && !prev.Compressed {
			continue
		}
		byStem[stem] = File{Name: e.Name(), Path: filepath.Join(l.Dir, e.Name()), Rotated: t, Compressed: gz}
	}
	files := make([]File, 0, len(byStem)+1)
	for _, f := range byStem {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if st, err := os.Stat(l.ActivePath()); err == nil && st.Mode().IsRegular() {
		files = append(files, File{Name: l.ActiveName(), Path: l.ActivePath(), Active: true})
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return files, nil
}

// Discover finds the archive a user names by path: the active file itself
// (which need not exist any more, if its rotated files do) or the directory
// holding it. A directory must hold exactly one archive.
func Discover(path string) (Layout, error) {
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Layout{}, err
	}
	if err == nil && st.IsDir() {
		return discoverDir(path)
	}
	l := LayoutFor(path)
	files, err := l.Files()
	if err != nil {
		return Layout{}, err
	}
	if len(files) == 0 {
		return Layout{}, fmt.Errorf("no archive at %s: neither the file nor rotated files beside it exist", path)
	}
	return l, nil
}

// discoverDir recognizes archives by their head files, falling back to
// rotated files (an archive copied without its head).
func discoverDir(dir string) (Layout, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Layout{}, err
	}
	found := map[Layout]struct{}{}
	for _, e := range entries {
		if active, ok := strings.CutSuffix(e.Name(), ".head"); ok && e.Type().IsRegular() {
			found[LayoutFor(filepath.Join(dir, active))] = struct{}{}
		}
	}
	if len(found) == 0 {
		for _, e := range entries {
			if l, ok := layoutFromRotated(dir, e.Name()); ok {
				found[l] = struct{}{}
			}
		}
	}
	if len(found) == 0 {
		// An archive that never rotated whose head file is gone: its
		// active file is still an archive, and a broken one, which
		// Verify must get to report rather than "no archive".
		for _, e := range entries {
			if e.Type().IsRegular() && startsLikeALine(filepath.Join(dir, e.Name())) {
				found[LayoutFor(filepath.Join(dir, e.Name()))] = struct{}{}
			}
		}
	}
	switch len(found) {
	case 0:
		return Layout{}, fmt.Errorf("no archive in directory %s: no head file (*.head), no rotated files and no file of archive lines", dir)
	case 1:
		for l := range found {
			return l, nil
		}
	}
	names := make([]string, 0, len(found))
	for l := range found {
		names = append(names, l.ActiveName())
	}
	sort.Strings(names)
	return Layout{}, fmt.Errorf("directory %s holds %d archives (%s): name the active file instead", dir, len(names), strings.Join(names, ", "))
}

// startsLikeALine reports whether the file at path begins as an archive
// line does.
func startsLikeALine(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(seqOpen))
	_, err = io.ReadFull(f, buf)
	return err == nil && string(buf) == seqOpen
}

// layoutFromRotated guesses the layout from a rotated file's name:
// base-<stamp><ext>[.gz].
func layoutFromRotated(dir, name string) (Layout, bool) {
	s := strings.TrimSuffix(name, gzipSuffix)
	for i := 0; i+1+len(rotatedTimeLayout) <= len(s); i++ {
		if s[i] != '-' {
			continue
		}
		stamp := s[i+1 : i+1+len(rotatedTimeLayout)]
		if _, err := time.Parse(rotatedTimeLayout, stamp); err != nil {
			continue
		}
		l := Layout{Dir: filepath.Clean(dir), Base: s[:i], Ext: s[i+1+len(rotatedTimeLayout):]}
		if _, _, ok := l.parseRotated(name); ok {
			return l, true
		}
	}
	return Layout{}, false
}
