// Package loadid makes the load generator's event ids and finds them again
// in whatever reaches the syslog sink or the archive.
//
// An id looks like a Glassix log id (a UUID) but carries a per-run nonce and
// the event's sequence number, so the harness can count each event exactly
// once wherever it turns up (a syslog MSGID, an SD-PARAM, a JSON attribute,
// an OTLP body), whatever format the distribution under test writes, and
// can tell an event that never arrived from one that arrived twice.
package loadid // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"sync"
)

// seqDigits is the number of hex digits that hold the sequence number.
const seqDigits = 12

// MaxSeq is the largest sequence number an id can carry.
const MaxSeq = 1<<(4*seqDigits) - 1

// Scheme makes and recognises the ids of one run.
type Scheme struct {
	// marker is everything before the sequence digits:
	// "<nonce>-be9c-4000-8000-".
	marker []byte
}

// NewScheme returns the scheme for a run identified by nonce.
func NewScheme(nonce uint32) Scheme {
	return Scheme{marker: fmt.Appendf(nil, "%08x-be9c-4000-8000-", nonce)}
}

// Append appends the id of event seq to dst, in lower-case UUID form.
func (s Scheme) Append(dst []byte, seq uint64) []byte {
	dst = append(dst, s.marker...)
	const hexDigits = "0123456789abcdef"
	for shift := 4 * (seqDigits - 1); shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(seq>>uint(shift))&0xf])
	}
	return dst
}

// String returns the id of event seq.
func (s Scheme) String(seq uint64) string { return string(s.Append(nil, seq)) }

// Scan calls fn with the sequence number of every id of this run found in
// text, in order of appearance, repeats included.
func (s Scheme) Scan(text []byte, fn func(seq uint64)) {
	for {
		i := bytes.Index(text, s.marker)
		if i < 0 {
			return
		}
		text = text[i+len(s.marker):]
		if seq, ok := parseSeq(text); ok {
			fn(seq)
			text = text[seqDigits:]
		}
	}
}

func parseSeq(b []byte) (uint64, bool) {
	if len(b) < seqDigits {
		return 0, false
	}
	var seq uint64
	for _, c := range b[:seqDigits] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		seq = seq<<4 | uint64(d)
	}
	// A longer run of hex digits is some other token that merely starts
	// like one of ours.
	if len(b) > seqDigits && isHex(b[seqDigits]) {
		return 0, false
	}
	return seq, true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// Set is a concurrency-safe set of sequence numbers (a growable bitmap)
// that also counts how often a member was added again.
type Set struct {
	mu         sync.Mutex
	words      []uint64
	count      uint64
	duplicates uint64
}

// Add adds seq and reports whether it was new.
func (s *Set) Add(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(seq)
}

// AddRange adds first, first+1, ..., first+n-1 under one lock (the events
// of one acknowledged request); each that was already a member counts as a
// duplicate.
func (s *Set) AddRange(first, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for seq := first; seq < first+n; seq++ {
		s.addLocked(seq)
	}
}

// AddAll adds every seq of a group at once (one lock for a whole message or
// archive line) and counts a seq repeated inside the group once: an id that
// appears in a message's MSGID, structured data and text is still one
// event. It sorts seqs in place.
func (s *Set) AddAll(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	slices.Sort(seqs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, seq := range seqs {
		if i > 0 && seqs[i-1] == seq {
			continue
		}
		s.addLocked(seq)
	}
}

func (s *Set) addLocked(seq uint64) bool {
	w := int(seq / 64)
	if w >= len(s.words) {
		grown := make([]uint64, max(w+1, 2*len(s.words)))
		copy(grown, s.words)
		s.words = grown
	}
	bit := uint64(1) << (seq % 64)
	if s.words[w]&bit != 0 {
		s.duplicates++
		return false
	}
	s.words[w] |= bit
	s.count++
	return true
}

// Contains reports whether seq is in the set.
func (s *Set) Contains(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := int(seq / 64)
	return w < len(s.words) && s.words[w]&(1<<(seq%64)) != 0
}

// Len is the number of distinct members.
func (s *Set) Len() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Duplicates is the number of times a member was added again.
func (s *Set) Duplicates() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// Missing counts the members of want that are not in s.
func (s *Set) Missing(want *Set) uint64 {
	if s == want {
		return 0
	}
	want.mu.Lock()
	defer want.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	for i, w := range want.words {
		if i < len(s.words) {
			w &^= s.words[i]
		}
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}
