package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tamperArchive is an archive of several files to damage.
type tamperArchive struct {
	t     *testing.T
	dir   string
	files []File // oldest first; the last is the active file
}

func newTamperArchive(t *testing.T, compress bool, key []byte) *tamperArchive {
	t.Helper()
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: compress, HMACKey: key})
	writeEvents(t, w, 1, 80, 5)
	if compress {
		allCompressed(t, dir)
	}
	require.NoError(t, w.Close())
	files, err := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	return &tamperArchive{t: t, dir: dir, files: files}
}

// file returns the i-th file; negative i counts from the end (-1: active).
func (a *tamperArchive) file(i int) File {
	if i < 0 {
		i += len(a.files)
	}
	return a.files[i]
}

func (a *tamperArchive) lines(i int) []string { return fileLines(a.t, a.file(i).Path) }

func (a *tamperArchive) setLines(i int, lines []string) {
	writeData(a.t, a.file(i).Path, []byte(strings.Join(lines, "\n")+"\n"))
}

func (a *tamperArchive) edit(i int, f func(lines []string) []string) {
	a.setLines(i, f(a.lines(i)))
}

func TestVerifyFindsTheFirstBrokenPlace(t *testing.T) {
	type want struct {
		file int // index into the files; negative from the end; 99: the head
		line int // 1-based; negative: from the end of the file as tampered
		kind ProblemKind
		msg  string
	}
	tests := []struct {
		name   string
		tamper func(a *tamperArchive)
		want   want
	}{
		{"modified line", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				l[2] = strings.Replace(l[2], "removed by admin", "removed by nobody", 1)
				return l
			})
		}, want{1, 3, KindModified, "content does not match its hash"}},
		{"modified line with its hash recomputed", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				l[2] = rehash(a.t, strings.Replace(l[2], "removed by admin", "removed by nobody", 1), nil)
				return l
			})
		}, want{1, 4, KindModified, "prev does not match the hash of the line before it"}},
		{"modified line in the active file", func(a *tamperArchive) {
			a.edit(-1, func(l []string) []string {
				l[1] = strings.Replace(l[1], `"severity_number":13`, `"severity_number":9`, 1)
				return l
			})
		}, want{-1, 2, KindModified, "content does not match its hash"}},
		{"deleted line", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string { return append(l[:2], l[3:]...) })
		}, want{1, 3, KindDeleted, "1 line missing (seq "}},
		{"deleted lines at the start of a file", func(a *tamperArchive) {
			a.edit(2, func(l []string) []string { return l[2:] })
		}, want{2, 1, KindMissingFile, "2 lines missing between the files"}},
		{"reordered lines", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string { l[1], l[2] = l[2], l[1]; return l })
		}, want{1, 2, KindReordered, "lines were reordered"}},
		{"line moved back", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				m := l[1]
				l = append(l[:1], l[2:]...)
				return append(l[:4], append([]string{m}, l[4:]...)...)
			})
		}, want{1, 2, KindReordered, "lines were reordered"}},
		{"duplicated line", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string { return append(l[:4], append([]string{l[2]}, l[4:]...)...) })
		}, want{1, 5, KindReordered, "appears again"}},
		{"removed middle file", func(a *tamperArchive) {
			require.NoError(a.t, os.Remove(a.file(2).Path))
		}, want{3, 1, KindMissingFile, "a file between them was removed"}},
		{"truncated tail, at a line boundary", func(a *tamperArchive) {
			a.edit(-1, func(l []string) []string { return l[:len(l)-2] })
		}, want{-1, -1, KindTruncated, "lines were cut from its end"}},
		{"truncated tail, mid-line", func(a *tamperArchive) {
			l := a.lines(-1)
			last := l[len(l)-1]
			data := strings.Join(l[:len(l)-1], "\n") + "\n" + last[:len(last)/2]
			require.NoError(a.t, os.WriteFile(a.file(-1).Path, []byte(data), 0o600))
		}, want{-1, 0, KindTruncated, "incomplete"}},
		{"active file removed", func(a *tamperArchive) {
			require.NoError(a.t, os.Remove(a.file(-1).Path))
		}, want{-2, -1, KindTruncated, "lines were cut from its end"}},
		{"oldest file removed", func(a *tamperArchive) {
			require.NoError(a.t, os.Remove(a.file(0).Path))
		}, want{1, 1, KindStart, "no retention record"}},
		{"head removed", func(a *tamperArchive) {
			require.NoError(a.t, os.Remove(filepath.Join(a.dir, "audit.jsonl.head")))
		}, want{99, 0, KindHead, "no head file"}},
		{"garbage inserted", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string { return append(l[:3], append([]string{"\x00\xff{not json"}, l[3:]...)...) })
		}, want{1, 4, KindMalformed, "not an archive line"}},
		{"a line forged from scratch", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				forged := string(mustSeal(a.t, 999, `"marker":"retention","time":"2024-01-01T00:00:00.000000000Z","detail":{}`))
				return append(l[:3], append([]string{forged}, l[3:]...)...)
			})
		}, want{1, 4, KindInserted, "it was inserted"}},
	}
	for _, compress := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/gzip=%v", tt.name, compress), func(t *testing.T) {
				a := newTamperArchive(t, compress, nil)
				tt.tamper(a)
				r, err := Verify(a.dir, VerifyOptions{})
				require.NoError(t, err)
				require.NotEmpty(t, r.Problems, "tampering not detected")
				got := r.Problems[0]

				file := "audit.jsonl.head"
				if tt.want.file != 99 {
					file = a.file(tt.want.file).Name
				}
				line := tt.want.line
				switch {
				case line == 0 && tt.want.file != 99:
					line = len(a.lines(tt.want.file))
				case line < 0:
					line += len(a.lines(tt.want.file)) + 2
				}
				assert.Equal(t, file, got.File, "%s", got)
				assert.Equal(t, line, got.Line, "%s", got)
				assert.Equal(t, tt.want.kind, got.Kind, "%s", got)
				assert.Contains(t, got.Message, tt.want.msg)
			})
		}
	}
}

func TestVerifyIntactArchive(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", compress), func(t *testing.T) {
			a := newTamperArchive(t, compress, nil)
			r := requireIntact(t, a.dir, VerifyOptions{})
			assert.Equal(t, 80, r.Lines)
			assert.Equal(t, 80, r.Events)
			assert.Equal(t, uint64(1), r.FirstSeq)
			assert.Equal(t, uint64(80), r.LastSeq)
			assert.Equal(t, uint64(80), r.Head.Seq)
			assert.Len(t, r.Files, len(a.files))
		})
	}
}

// With a key, a line changed and re-hashed is caught at that very line, and
// so is an archive rewritten from a line on with a fresh chain and head.
func TestVerifyKeyedArchive(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name     string
		tamper   func(a *tamperArchive)
		file     int
		line     int
		kind     ProblemKind
		contains string
	}{
		{"modified line with its hash recomputed", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				l[2] = rehash(a.t, strings.Replace(l[2], "removed by admin", "removed by nobody", 1), nil)
				return l
			})
		}, 1, 3, KindModified, "no HMAC on a line of a keyed archive"},
		{"modified line re-hashed with a guessed key", func(a *tamperArchive) {
			a.edit(1, func(l []string) []string {
				l[2] = rehash(a.t, strings.Replace(l[2], "removed by admin", "removed by nobody", 1), []byte("guessed key 12345"))
				return l
			})
		}, 1, 3, KindModified, "HMAC does not match"},
		{"rewritten from a line on, head included", func(a *tamperArchive) {
			lines := a.lines(-1)
			s, err := parseSeal([]byte(lines[0]))
			require.NoError(a.t, err)
			prev, seal := s.Prev, newSealer([]byte("guessed key 12345"))
			for i, l := range lines {
				ls, err := parseSeal([]byte(l))
				require.NoError(a.t, err)
				body := strings.Replace(l[ls.bodyStart:len(ls.hashed)], "removed by admin", "removed by nobody", 1)
				out, sum := seal.seal(nil, ls.Seq, prev, []byte(body))
				lines[i], prev = string(out), sum
			}
			a.setLines(-1, lines)
			last, _ := parseSeal([]byte(lines[len(lines)-1]))
			require.NoError(a.t, writeHead(filepath.Join(a.dir, "audit.jsonl.head"), Head{Seq: last.Seq, Hash: last.HashHex()}, seal, 0o600))
		}, -1, 1, KindModified, "HMAC does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTamperArchive(t, true, key)
			requireIntact(t, a.dir, VerifyOptions{HMACKey: key})
			tt.tamper(a)
			r, err := Verify(a.dir, VerifyOptions{HMACKey: key})
			require.NoError(t, err)
			require.NotEmpty(t, r.Problems)
			got := r.Problems[0]
			assert.Equal(t, Problem{File: a.file(tt.file).Name, Line: tt.line, Kind: tt.kind, Message: got.Message}, got)
			assert.Contains(t, got.Message, tt.contains)
			if tt.name == "rewritten from a line on, head included" {
				assert.Equal(t, KindHead, r.Problems[len(r.Problems)-1].Kind, "the forged head is reported too")
			}
		})
	}
}

// Every problem is listed, in archive order, up to the limit.
func TestVerifyListsEveryProblemInOrder(t *testing.T) {
	a := newTamperArchive(t, false, nil)
	a.edit(3, func(l []string) []string { l[0] = strings.Replace(l[0], "admin", "nimda", 1); return l })
	a.edit(1, func(l []string) []string { return append(l[:1], l[2:]...) })
	r, err := Verify(a.dir, VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, r.Problems, 2)
	assert.Equal(t, a.file(1).Name, r.Problems[0].File)
	assert.Equal(t, a.file(3).Name, r.Problems[1].File)

	r, err = Verify(a.dir, VerifyOptions{MaxProblems: 1})
	require.NoError(t, err)
	assert.Len(t, r.Problems, 1)
	assert.Equal(t, 1, r.Omitted)
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, x := range []uint64{5, 6, 7, 1, 3, 2, 10, 9, 4} {
		s.add(x)
	}
	assert.Equal(t, [][2]uint64{{1, 7}, {9, 10}}, s.r)
	assert.True(t, s.containsAny(7, 8))
	assert.False(t, s.containsAny(8, 8))
	assert.True(t, s.containsAny(0, 1))
	assert.False(t, s.containsAny(11, 20))
}
