package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ProblemKind classifies what verify found.
type ProblemKind string

// The kinds of problem verify reports.
const (
	KindModified    ProblemKind = "modified"     // a line's content no longer matches its hash/HMAC, or its predecessor was re-hashed
	KindDeleted     ProblemKind = "deleted"      // lines missing inside a file
	KindReordered   ProblemKind = "reordered"    // lines out of order or duplicated
	KindInserted    ProblemKind = "inserted"     // a line that is not part of the chain
	KindMissingFile ProblemKind = "missing-file" // lines missing at a file boundary: a file was removed
	KindTruncated   ProblemKind = "truncated"    // the archive's end was cut (head check, partial line, writer record)
	KindMalformed   ProblemKind = "malformed"    // not an archive line
	KindUnreadable  ProblemKind = "unreadable"   // a file cannot be read to its end
	KindStart       ProblemKind = "start"        // starts mid-chain without a retention record
	KindHead        ProblemKind = "head"         // head file missing, unreadable or with a wrong HMAC
	KindWriterAlarm ProblemKind = "writer-alarm" // the writer recorded damage it found at a restart
	KindSignature   ProblemKind = "signature"    // a checkpoint's signature does not verify, or its key is not given, or checkpoints are missing altogether
	KindCheckpoint  ProblemKind = "checkpoint"   // a checkpoint does not match the lines before it, its file, or the previous checkpoint
	KindAnchor      ProblemKind = "anchor"       // a checkpoint the SIEM received is contradicted by the archive, or missing from it
)

// Problem is one broken place. Line is 0 when the problem concerns a whole
// file (the head file).
type Problem struct {
	File    string      `json:"file"`
	Line    int         `json:"line"`
	Kind    ProblemKind `json:"kind"`
	Message string      `json:"message"`
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", p.File, p.Kind, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Kind, p.Message)
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// HMACKey, when set, makes verify check every line's HMAC and the
	// head's: only the key holder can then have written the archive.
	HMACKey []byte
	// MaxProblems bounds the problems listed (default 100).
	MaxProblems int
	// Keys, when not empty, makes verify check every checkpoint's
	// signature: only the holder of a private key can then have written
	// the lines the checkpoints cover.
	Keys Keyring
	// Anchors are checkpoints kept outside the host (by the SIEM; see
	// ReadAnchors). Each one that belongs to this archive must be in it.
	Anchors []Anchor
}

// Report is the outcome of Verify.
type Report struct {
	Dir         string   `json:"dir"`
	Active      string   `json:"active"`
	Files       []string `json:"files"`
	Lines       int      `json:"lines"`
	Events      int      `json:"events"`
	Markers     int      `json:"markers"`
	FirstSeq    uint64   `json:"first_seq"`
	LastSeq     uint64   `json:"last_seq"`
	Head        *Head    `json:"head,omitempty"`
	HMACPresent bool     `json:"hmac_present"`
	HMACChecked bool     `json:"hmac_checked"`
	// Problems in archive order: Problems[0] is the first broken place.
	Problems []Problem `json:"problems"`
	// Omitted counts problems beyond MaxProblems.
	Omitted int `json:"omitted,omitempty"`
	// Notes are facts worth knowing that are not problems: a start after
	// retention, partial lines cut after crashes, HMACs left unchecked.
	Notes []string `json:"notes"`

	// Checkpoints counts the checkpoint lines; SignaturesChecked says
	// whether their signatures were checked (public keys given), KeyIDs
	// which keys signed them.
	Checkpoints       int      `json:"checkpoints"`
	SignaturesChecked bool     `json:"signatures_checked"`
	KeyIDs            []string `json:"key_ids"`
	// CoveredSeq is the last line the newest checkpoint covers (0: none);
	// UncoveredLines counts the lines after that checkpoint's own line,
	// which no signature covers yet.
	CoveredSeq     uint64 `json:"covered_seq"`
	UncoveredLines int    `json:"uncovered_lines"`
	// Anchors: how many checkpoints were read from the anchors, how many
	// belong to this archive and were found in it.
	AnchorsRead    int `json:"anchors_read"`
	AnchorsOurs    int `json:"anchors_ours"`
	AnchorsMatched int `json:"anchors_matched"`
}

// Intact reports whether no problem was found.
func (r *Report) Intact() bool { return len(r.Problems) == 0 }

// Verify checks the archive at path (the active file or its directory):
// every line's hash (and HMAC), the chain from line to line and file to
// file, the archive's start (genesis, or a start recorded by retention) and
// its end (against the head). The error is set only when the archive cannot
// be found or listed; everything wrong inside it is a Problem.
//
// A live archive can rotate while it is read; when that happens and
// problems were found, the check is repeated (up to three times).
func Verify(path string, opts VerifyOptions) (*Report, error) {
	a, err := Open(path)
	if err != nil {
		return nil, err
	}
	a.SetHMACKey(opts.HMACKey)
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	for attempt := 1; ; attempt++ {
		before := snapshot(a)
		r, err := verifyOnce(a, opts)
		if err != nil {
			return nil, err
		}
		if r.Intact() || attempt == 3 || snapshot(a) == before {
			return r, nil
		}
	}
}

// snapshot identifies the archive's state: its file names and head.
func snapshot(a *Archive) string {
	var b strings.Builder
	files, _ := a.Files()
	for _, f := range files {
		b.WriteString(f.Name)
		b.WriteByte('\n')
	}
	head, _ := os.ReadFile(a.Layout.HeadPath())
	b.Write(head)
	return b.String()
}

type position struct {
	file int
	line int
}

type verifier struct {
	opts     VerifyOptions
	r        *Report
	fileIdx  map[string]int
	problems []struct {
		pos position
		p   Problem
	}
	seen  seqSet
	gaps  []*gap // seq jumps, classified at the end
	last  *Entry
	first *Entry
	// starts are the (seq, prev) pairs retention recorded as legitimate
	// starts of the archive, with where it recorded them.
	starts map[startKey]string

	active   string // the active file's name
	lastCP   *seenCheckpoint
	cpByHash map[string]string // checkpoint hash -> where its line is
	keyIDs   map[string]bool
	// anchors wanting the hash of a seq: seq -> where and hash (once seen)
	anchorSeqs map[uint64]*seqSeen
}

type seenCheckpoint struct {
	c     Checkpoint
	hash  string
	token string
	at    string
	seq   uint64 // its line's
}

type seqSeen struct {
	seen bool
	hash string
	at   string
}

type startKey struct {
	seq  uint64
	prev string
}

// gap is a seq jump forward at a line, which is classified once the whole
// archive is read: the missing seqs may come later (reordered), or the line
// may be one nothing chains to while its neighbours chain to each other
// (inserted); otherwise lines are missing (deleted, missing-file).
type gap struct {
	problem    int
	lo, hi     uint64
	predHash   [32]byte
	hash       [32]byte // the jumping line's
	at         string
	checked    bool   // the sealed line after the jump was seen
	nextLinks  bool   // it continues from the line before the jump
	referenced bool   // some line's prev is the jumping line's hash
	laterAt    string // where a missing seq turned up later
	laterSeq   uint64
}

func verifyOnce(a *Archive, opts VerifyOptions) (*Report, error) {
	files, err := a.Files()
	if err != nil {
		return nil, err
	}
	v := &verifier{
		opts:       opts,
		r:          &Report{Dir: a.Layout.Dir, Active: a.Layout.ActiveName(), Files: []string{}, Problems: []Problem{}, Notes: []string{}, HMACChecked: len(opts.HMACKey) > 0},
		fileIdx:    map[string]int{},
		starts:     map[startKey]string{},
		active:     a.Layout.ActiveName(),
		cpByHash:   map[string]string{},
		keyIDs:     map[string]bool{},
		anchorSeqs: map[uint64]*seqSeen{},
	}
	v.r.SignaturesChecked = len(opts.Keys) > 0
	v.r.KeyIDs = []string{}
	for _, an := range opts.Anchors {
		v.anchorSeqs[an.C.LastSeq] = &seqSeen{}
	}
	for i, f := range files {
		v.r.Files = append(v.r.Files, f.Name)
		v.fileIdx[f.Name] = i
	}
	head, headErr := a.Head()
	if headErr == nil {
		v.r.Head = &head
	}
	lines := map[string]int{}
	firstEntry := true
	for e, err := range a.Entries() {
		if err != nil {
			return nil, err
		}
		if _, known := v.fileIdx[e.File]; !known {
			v.fileIdx[e.File] = len(v.fileIdx)
			v.r.Files = append(v.r.Files, e.File)
		}
		if e.Status != StatusUnreadable {
			v.r.Lines++
			lines[e.File] = e.Line
		}
		v.entry(e, firstEntry)
		firstEntry = false
		if e.HasSeal && headErr == nil && e.Seal.Seq == head.Seq {
			if e.Seal.HashHex() != head.Hash {
				v.add(e, KindModified, fmt.Sprintf("the head records hash %s for seq %d, this line has %s: the archive was rewritten from this line on", short(head.Hash), head.Seq, short(e.Seal.HashHex())))
			}
		}
	}
	v.classifyGaps()
	v.checkStart()
	v.checkHead(a, head, headErr, files, lines)
	v.checkSigning(a, head, headErr)
	v.checkAnchors(a)
	if v.r.HMACPresent && !v.r.HMACChecked {
		v.note("lines carry HMACs but no key was given: only the SHA-256 chain was checked")
	}
	sort.SliceStable(v.problems, func(i, j int) bool {
		pi, pj := v.problems[i].pos, v.problems[j].pos
		if pi.file != pj.file {
			return pi.file < pj.file
		}
		return pi.line < pj.line
	})
	for _, p := range v.problems {
		if len(v.r.Problems) == opts.MaxProblems {
			v.r.Omitted++
			continue
		}
		v.r.Problems = append(v.r.Problems, p.p)
	}
	return v.r, nil
}

func (v *verifier) entry(e Entry, firstEntry bool) {
	var ev *Event
	if e.IsMarker() {
		if dec, err := e.Decode(); err == nil {
			ev = &dec
		}
	}
	if e.HasSeal {
		for _, g := range v.gaps {
			s := e.Seal
			if !g.checked {
				g.checked = true
				g.nextLinks = s.Seq == g.lo && s.Prev == g.predHash
			}
			if s.Prev == g.hash {
				g.referenced = true
			}
			if g.laterAt == "" && s.Seq >= g.lo && s.Seq <= g.hi {
				g.laterAt, g.laterSeq = fmt.Sprintf("%s:%d", e.File, e.Line), s.Seq
			}
		}
	}
	switch e.Status {
	case StatusIncomplete:
		v.add(e, KindTruncated, "the last line is incomplete (no newline): the file was cut mid-line, a write was in progress, or the writer crashed (it cuts such a line away at its next start)")
	case StatusMalformed:
		v.add(e, KindMalformed, e.Err.Error())
	case StatusModified:
		v.add(e, KindModified, e.Err.Error())
	case StatusUnreadable:
		v.add(e, KindUnreadable, e.Err.Error())
	case StatusUnlinked:
		v.unlinked(e, ev)
	}
	if !e.HasSeal {
		return
	}
	s := e.Seal
	if v.first == nil {
		if firstEntry {
			v.first = &e
		} else {
			v.first = &Entry{} // the archive's start is damaged; reported already
		}
	}
	if s.HMAC != nil {
		v.r.HMACPresent = true
	}
	if v.r.FirstSeq == 0 || s.Seq < v.r.FirstSeq {
		v.r.FirstSeq = s.Seq
	}
	if s.Seq > v.r.LastSeq {
		v.r.LastSeq = s.Seq
	}
	if v.lastCP != nil {
		v.r.UncoveredLines++
	}
	if want := v.anchorSeqs[s.Seq]; want != nil && !want.seen {
		*want = seqSeen{seen: true, hash: s.HashHex(), at: fmt.Sprintf("%s:%d", e.File, e.Line)}
	}
	if ev != nil {
		v.r.Markers++
		v.marker(e, ev)
	} else {
		v.r.Events++
	}
	v.seen.add(s.Seq)
	v.last = &e
}

// unlinked explains why a sound line does not follow the one before it.
func (v *verifier) unlinked(e Entry, ev *Event) {
	if ev != nil && ev.Marker == MarkerTailMissing {
		v.add(e, KindTruncated, fmt.Sprintf("at its restart the writer found the archive ending at seq %v while its head recorded seq %v: lines were cut from the end while it was stopped",
			ev.Detail["last_seq"], ev.Detail["head_seq"]))
		return
	}
	pred := v.last
	s, ps := e.Seal, pred.Seal
	at := fmt.Sprintf("%s:%d", pred.File, pred.Line)
	switch {
	case s.Seq == ps.Seq+1:
		v.add(e, KindModified, fmt.Sprintf("prev does not match the hash of the line before it (%s, seq %d): that line was changed and its hash recomputed, or this line's prev was changed", at, ps.Seq))
	case s.Seq > ps.Seq+1:
		lo, hi := ps.Seq+1, s.Seq-1
		n := hi - lo + 1
		switch {
		case v.seen.containsAny(lo, hi):
			v.add(e, KindReordered, fmt.Sprintf("seq %d follows seq %d (%s), and seq %d..%d came earlier: lines were reordered", s.Seq, ps.Seq, at, lo, hi))
			return
		case e.Line == 1 && pred.File != e.File:
			v.add(e, KindMissingFile, fmt.Sprintf("seq %d follows seq %d at the end of %s: %s missing between the files: a file between them was removed, or the end of %s or the start of %s was cut",
				s.Seq, ps.Seq, pred.File, plural(n, "line"), pred.File, e.File))
		default:
			v.add(e, KindDeleted, fmt.Sprintf("seq %d follows seq %d (%s): %s missing (%s)", s.Seq, ps.Seq, at, plural(n, "line"), seqRange(lo, hi)))
		}
		v.gaps = append(v.gaps, &gap{problem: len(v.problems) - 1, lo: lo, hi: hi, predHash: ps.Hash, hash: s.Hash, at: at})
	default:
		if v.seen.containsAny(s.Seq, s.Seq) {
			v.add(e, KindReordered, fmt.Sprintf("seq %d appears again after seq %d (%s): a line was duplicated or moved", s.Seq, ps.Seq, at))
		} else {
			v.add(e, KindReordered, fmt.Sprintf("seq %d follows seq %d (%s): lines were reordered", s.Seq, ps.Seq, at))
		}
	}
}

func (v *verifier) classifyGaps() {
	for _, g := range v.gaps {
		p := &v.problems[g.problem].p
		switch {
		case g.nextLinks && !g.referenced:
			p.Kind = KindInserted
			p.Message = fmt.Sprintf("this line is not part of the chain: the line after it continues from the line before it (%s), and no line follows from it: it was inserted", g.at)
		case g.laterAt != "":
			p.Kind = KindReordered
			p.Message = fmt.Sprintf("seq %d follows seq %d (%s), and seq %d comes later (%s): lines were reordered", g.hi+1, g.lo-1, g.at, g.laterSeq, g.laterAt)
		}
	}
}

func (v *verifier) marker(e Entry, ev *Event) {
	at := fmt.Sprintf("%s:%d", e.File, e.Line)
	switch ev.Marker {
	case MarkerRetention:
		if list, ok := ev.Detail["removed"].([]any); ok {
			for _, item := range list {
				v.addStart(item, at)
			}
		}
		v.addStart(ev.Detail["next"], at)
	case MarkerPartialLineRemoved:
		v.note(fmt.Sprintf("%s: at its restart the writer cut a partial line left by a crash (%v bytes at offset %v of %v, saved as %v)",
			at, ev.Detail["length"], ev.Detail["offset"], ev.Detail["file"], ev.Detail["saved_as"]))
	case MarkerHeadMismatch:
		v.add(e, KindWriterAlarm, fmt.Sprintf("at its restart the writer found line seq %v changed: the head recorded hash %v, the line had %v",
			ev.Detail["head_seq"], ev.Detail["head_hash"], ev.Detail["line_hash"]))
	case MarkerCheckpoint:
		v.checkpoint(e, ev, at)
	case MarkerHeadUnreadable:
		v.add(e, KindWriterAlarm, fmt.Sprintf("at its restart the writer found the head missing or unreadable (%v): lines cut from the end before seq %v cannot be ruled out",
			ev.Detail["error"], ev.Detail["last_seq"]))
	}
}

func (v *verifier) addStart(item any, at string) {
	m, ok := item.(map[string]any)
	if !ok {
		return
	}
	seq, _ := m["first_seq"].(int64)
	prev, _ := m["first_prev"].(string)
	if seq > 0 {
		v.starts[startKey{uint64(seq), prev}] = at
	}
}

// checkStart accepts an archive that starts at its genesis line, or at a
// line a retention record names as the new oldest line.
func (v *verifier) checkStart() {
	f := v.first
	if f == nil || !f.HasSeal {
		return
	}
	s := f.Seal
	if s.Seq == 1 && s.PrevHex() == GenesisPrev {
		return
	}
	if at, ok := v.starts[startKey{s.Seq, s.PrevHex()}]; ok {
		v.note(fmt.Sprintf("the archive starts at seq %d: the lines before it were removed by retention (recorded at %s)", s.Seq, at))
		return
	}
	v.add(*f, KindStart, fmt.Sprintf("the archive starts mid-chain at seq %d and no retention record covers the lines before it: files were removed from its start outside retention", s.Seq))
}

func (v *verifier) checkHead(a *Archive, head Head, headErr error, files []File, lines map[string]int) {
	headName := filepath.Base(a.Layout.HeadPath())
	at := Entry{File: headName}
	switch {
	case errors.Is(headErr, fs.ErrNotExist):
		if v.r.Lines > 0 {
			v.add(at, KindHead, "no head file: lines cut from the end of the archive cannot be detected")
		}
		return
	case headErr != nil:
		v.add(at, KindHead, fmt.Sprintf("unreadable: %v", headErr))
		return
	}
	if len(v.opts.HMACKey) > 0 && !checkHeadMAC(head, v.opts.HMACKey) {
		v.add(at, KindHead, "the head's HMAC does not match: it was written without the key, or the key is wrong")
	}
	if head.Seq > v.r.LastSeq {
		end := Entry{File: headName}
		if len(files) > 0 {
			last := files[len(files)-1].Name
			end = Entry{File: last, Line: lines[last] + 1}
		}
		v.add(end, KindTruncated, fmt.Sprintf("the archive ends at seq %d but its head records seq %d (written %s): %s cut from its end",
			v.r.LastSeq, head.Seq, head.Written.Format(TimeLayout), plural(head.Seq-v.r.LastSeq, "line")+" were"))
	}
}

func (v *verifier) add(e Entry, kind ProblemKind, msg string) {
	idx, ok := v.fileIdx[e.File]
	if !ok {
		idx = len(v.fileIdx) + 1 // the head: after every data file
	}
	v.problems = append(v.problems, struct {
		pos position
		p   Problem
	}{position{idx, e.Line}, Problem{File: e.File, Line: e.Line, Kind: kind, Message: msg}})
}

func (v *verifier) note(s string) { v.r.Notes = append(v.r.Notes, s) }

func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func seqRange(lo, hi uint64) string {
	if lo == hi {
		return fmt.Sprintf("seq %d", lo)
	}
	return fmt.Sprintf("seq %d..%d", lo, hi)
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// seqSet is a set of seqs kept as sorted, disjoint ranges; an archive's seqs
// are nearly contiguous, so it stays small.
type seqSet struct{ r [][2]uint64 }

func (s *seqSet) add(x uint64) {
	n := len(s.r)
	if n > 0 && s.r[n-1][1]+1 == x {
		s.r[n-1][1] = x
		return
	}
	i := sort.Search(n, func(i int) bool { return s.r[i][1]+1 >= x })
	switch {
	case i < n && s.r[i][0] <= x && x <= s.r[i][1]:
		return
	case i < n && s.r[i][1]+1 == x:
		s.r[i][1] = x
		if i+1 < n && s.r[i+1][0] == x+1 {
			s.r[i][1] = s.r[i+1][1]
			s.r = append(s.r[:i+1], s.r[i+2:]...)
		}
	case i < n && s.r[i][0] == x+1:
		s.r[i][0] = x
	default:
		s.r = append(s.r, [2]uint64{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = [2]uint64{x, x}
	}
}

func (s *seqSet) containsAny(lo, hi uint64) bool {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i][1] >= lo })
	return i < len(s.r) && s.r[i][0] <= hi
}
