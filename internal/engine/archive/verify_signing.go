package archive

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// checkpoint checks one checkpoint line: its signature (with keys), that
// it signs the line before it, names its own file, and follows the
// previous checkpoint.
func (v *verifier) checkpoint(e Entry, ev *Event, at string) {
	c, tok, err := checkpointFromDetail(ev.Detail)
	if err != nil {
		v.add(e, KindSignature, fmt.Sprintf("unreadable checkpoint: %v", err))
		return
	}
	v.r.Checkpoints++
	if !v.keyIDs[c.KeyID] {
		v.keyIDs[c.KeyID] = true
		v.r.KeyIDs = append(v.r.KeyIDs, c.KeyID)
	}
	if len(v.opts.Keys) > 0 {
		if err := v.opts.Keys.Check(&c); err != nil {
			v.add(e, KindSignature, fmt.Sprintf("checkpoint covering seq %d..%d: %v", c.FirstSeq, c.LastSeq, err))
		}
	}
	s := e.Seal
	if c.LastSeq+1 != s.Seq || c.Head != s.PrevHex() {
		v.add(e, KindCheckpoint, fmt.Sprintf("the checkpoint signs seq %d with hash %s, but it follows seq %d with hash %s: the lines before it were rewritten (hashes recomputed) or the checkpoint was moved",
			c.LastSeq, short(c.Head), s.Seq-1, short(s.PrevHex())))
	}
	if c.File != stem(e.File) && c.File != v.active {
		v.add(e, KindCheckpoint, fmt.Sprintf("the checkpoint was written in file %s but is in %s: files were renamed or replaced", c.File, e.File))
	}
	if p := v.lastCP; p != nil {
		if c.Prev != p.hash || c.FirstSeq != p.c.LastSeq+1 {
			v.add(e, KindCheckpoint, fmt.Sprintf("the checkpoint does not follow the previous one (%s): checkpoints were removed, replaced or re-signed", p.at))
		}
	} else if c.Prev != GenesisPrev && v.first != nil && v.first.HasSeal && v.first.Seal.Seq == 1 {
		v.add(e, KindCheckpoint, "the archive's first checkpoint names a previous checkpoint the archive does not hold: checkpoints were removed or replaced")
	}
	h := c.Hash()
	v.lastCP = &seenCheckpoint{c: c, hash: h, token: tok, at: at, seq: s.Seq}
	v.cpByHash[h] = at
	v.r.CoveredSeq = c.LastSeq
	v.r.UncoveredLines = 0
}

// checkSigning checks what only signatures can show: that a signed
// archive still has checkpoints, that the head's checkpoint is the
// archive's, and reports the tail no checkpoint covers yet.
func (v *verifier) checkSigning(a *Archive, head Head, headErr error) {
	keyed := len(v.opts.Keys) > 0
	if v.lastCP == nil {
		v.r.UncoveredLines = v.r.Lines
	}
	switch {
	case !keyed && v.r.Checkpoints > 0:
		v.note(fmt.Sprintf("%d signed checkpoints found but not checked: without -pubkey only the hash chain is checked, and someone who rewrites lines and recomputes every hash (and the head) is not detected", v.r.Checkpoints))
	case !keyed:
		v.note("no public key given (-pubkey) and no signed checkpoints checked: only the hash chain was checked, and someone who rewrites lines and recomputes every hash (and the head) is not detected")
	case v.r.Lines > 0 && v.r.Checkpoints == 0 && (headErr != nil || v.opts.Keys.CheckHead(head) != nil):
		v.add(Entry{File: v.active}, KindSignature, "the archive holds no signed checkpoint and no signed head: they were removed (and the chain recomputed), or the archive was never signed; nothing in it is proven by a signature")
	case v.r.Lines > 0 && v.r.Checkpoints == 0:
		v.note(fmt.Sprintf("no checkpoint yet (the writer stopped before its first): only the signed head vouches for the %s", plural(uint64(v.r.Lines), "line")))
	}
	if v.lastCP != nil && v.r.UncoveredLines > 0 {
		v.note(fmt.Sprintf("the last %s after the checkpoint at %s (covering up to seq %d) %s not yet covered by a signature: proven by the hash chain only",
			plural(uint64(v.r.UncoveredLines), "line"), v.lastCP.at, v.lastCP.c.LastSeq, isAre(v.r.UncoveredLines)))
	}
	if !keyed || headErr != nil {
		return
	}
	headAt := Entry{File: filepath.Base(a.Layout.HeadPath())}
	if v.r.Checkpoints > 0 {
		if err := v.opts.Keys.CheckHead(head); err != nil {
			v.add(headAt, KindHead, err.Error())
		}
	}
	if head.Checkpoint == "" {
		if v.lastCP != nil && head.Seq >= v.lastCP.seq {
			v.add(headAt, KindHead, fmt.Sprintf("the head names no checkpoint, though the archive's last checkpoint is at %s: the head was rewritten", v.lastCP.at))
		}
		return
	}
	c, err := ParseToken(head.Checkpoint)
	if err == nil {
		err = v.opts.Keys.Check(&c)
	}
	if err != nil {
		v.add(headAt, KindHead, "the head's checkpoint: "+err.Error())
		return
	}
	switch at, found := v.cpByHash[c.Hash()]; {
	case c.LastSeq+1 > v.r.LastSeq:
		v.add(headAt, KindTruncated, fmt.Sprintf("the head's signed checkpoint (made %s) covers the archive up to seq %d and was written as seq %d, but the archive ends at seq %d: lines were cut from its end",
			c.Time.Format(TimeLayout), c.LastSeq, c.LastSeq+1, v.r.LastSeq))
	case !found:
		v.add(headAt, KindHead, fmt.Sprintf("the head's signed checkpoint (seq %d, made %s) is not in the archive: the archive was rewritten from there on, or the head comes from another archive",
			c.LastSeq, c.Time.Format(TimeLayout)))
	case head.Seq < c.LastSeq+1:
		v.add(headAt, KindHead, fmt.Sprintf("the head records seq %d but names a checkpoint written as seq %d: the head was rewritten", head.Seq, c.LastSeq+1))
	case v.lastCP != nil && v.lastCP.hash != c.Hash() && head.Seq >= v.lastCP.seq:
		v.add(headAt, KindHead, fmt.Sprintf("the head names the checkpoint at %s, but records seq %d, past the later checkpoint at %s: the head was rewritten", at, head.Seq, v.lastCP.at))
	}
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// Anchor is a checkpoint read from outside the archive (a SIEM's copy).
type Anchor struct {
	C     Checkpoint
	Token string
	At    string // where it was read: FILE:LINE
	Err   error  // the token could not be read
}

// ReadAnchors reads the checkpoint tokens in a file of log lines, as a
// SIEM stores them (one message per line, in any format that keeps the
// message text). A token repeated (the collector sends its last checkpoint
// again at each start) is listed once.
func ReadAnchors(path string) ([]Anchor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Anchor
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for no := 1; sc.Scan(); no++ {
		for _, tok := range FindTokens(sc.Bytes()) {
			if seen[tok] {
				continue
			}
			seen[tok] = true
			c, err := ParseToken(tok)
			out = append(out, Anchor{C: c, Token: tok, At: fmt.Sprintf("%s:%d", path, no), Err: err})
		}
	}
	return out, sc.Err()
}

// checkAnchors reports every anchor of this archive that it contradicts
// or lacks. An anchor is this archive's when it names one of its files
// and (with keys) is signed by one of the keys; the others (other
// collectors' checkpoints in the same SIEM file) are counted and left.
func (v *verifier) checkAnchors(a *Archive) {
	if len(v.opts.Anchors) == 0 {
		return
	}
	keyed := len(v.opts.Keys) > 0
	foreign, unreadable := 0, 0
	for _, an := range v.opts.Anchors {
		v.r.AnchorsRead++
		i := strings.LastIndexByte(an.At, ':')
		at := Entry{File: an.At, Line: anchorLine(an.At)}
		if i >= 0 {
			at.File = an.At[:i]
		}
		if an.Err != nil {
			unreadable++
			continue
		}
		c := an.C
		_, _, rotated := a.Layout.parseRotated(c.File)
		if c.File != v.active && !rotated {
			foreign++
			continue
		}
		if keyed {
			if _, ok := v.opts.Keys[c.KeyID]; !ok {
				foreign++
				continue
			}
			if err := v.opts.Keys.Check(&c); err != nil {
				v.add(at, KindAnchor, "the SIEM's checkpoint "+err.Error())
				continue
			}
		}
		v.r.AnchorsOurs++
		if _, ok := v.cpByHash[c.Hash()]; ok {
			v.r.AnchorsMatched++
			continue
		}
		what := fmt.Sprintf("the SIEM's checkpoint made %s (seq %d..%d, file %s)", c.Time.Format(TimeLayout), c.FirstSeq, c.LastSeq, c.File)
		got := v.anchorSeqs[c.LastSeq]
		switch {
		case got != nil && got.seen && got.hash != c.Head:
			v.add(at, KindAnchor, fmt.Sprintf("%s signs hash %s for seq %d, but the archive's line seq %d (%s) has %s: the archive was rewritten (and re-signed, if its own checkpoints verify)",
				what, short(c.Head), c.LastSeq, c.LastSeq, got.at, short(got.hash)))
		case got != nil && got.seen:
			v.add(at, KindAnchor, fmt.Sprintf("%s is not in the archive, though line seq %d (%s) still has the hash it signs: the checkpoint line was removed or replaced", what, c.LastSeq, got.at))
		case c.LastSeq > v.r.LastSeq:
			v.add(at, KindAnchor, fmt.Sprintf("%s covers up to seq %d, but the archive ends at seq %d: lines were cut from its end (and the head rewritten or deleted)", what, c.LastSeq, v.r.LastSeq))
		case c.LastSeq < v.r.FirstSeq && v.startedByRetention():
			v.r.AnchorsOurs--
			v.note(fmt.Sprintf("%s: %s covers lines removed by retention", an.At, what))
		default:
			v.add(at, KindAnchor, fmt.Sprintf("%s covers seq %d, which the archive does not hold: lines or files were removed", what, c.LastSeq))
		}
	}
	if foreign > 0 {
		v.note(fmt.Sprintf("%d checkpoints in the anchors belong to other archives or keys and were not compared", foreign))
	}
	if unreadable > 0 {
		v.note(fmt.Sprintf("%d checkpoint tokens in the anchors could not be read (damaged in transit or storage)", unreadable))
	}
	if v.lastCP != nil {
		if _, ok := anchorHashes(v.opts.Anchors)[v.lastCP.hash]; !ok && v.r.AnchorsOurs > 0 {
			v.note(fmt.Sprintf("the archive's last checkpoint (%s) is not among the anchors yet: the SIEM may not have received it", v.lastCP.at))
		}
	}
}

func anchorHashes(as []Anchor) map[string]bool {
	m := map[string]bool{}
	for _, a := range as {
		if a.Err == nil {
			m[a.C.Hash()] = true
		}
	}
	return m
}

func anchorLine(at string) int {
	i := strings.LastIndexByte(at, ':')
	n := 0
	if i >= 0 {
		fmt.Sscanf(at[i+1:], "%d", &n)
	}
	return n
}

// startedByRetention: the archive starts where a retention record says.
func (v *verifier) startedByRetention() bool {
	f := v.first
	if f == nil || !f.HasSeal {
		return false
	}
	_, ok := v.starts[startKey{f.Seal.Seq, f.Seal.PrevHex()}]
	return ok
}

// KeyringFromFiles loads public key files into a keyring.
func KeyringFromFiles(paths []string) (Keyring, error) {
	k := Keyring{}
	var errs []error
	for _, p := range paths {
		pub, err := LoadPublicKey(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k.Add(pub)
	}
	return k, errors.Join(errs...)
}
