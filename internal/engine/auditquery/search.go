package auditquery

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

// Row is one line of a result, as the viewer's table shows it.
type Row struct {
	// Time is when the event happened (else when it was received), RFC 3339
	// UTC with nine fraction digits; empty when the line has neither.
	Time          string `json:"time"`
	Source        string `json:"source"`
	Resource      string `json:"resource"`
	Action        string `json:"action"`
	Actor         string `json:"actor"`
	ClientAddress string `json:"client_address"`
	// Severity is the syslog level name (internal/severity); empty for
	// markers and undecodable lines.
	Severity       string `json:"severity"`
	SeverityNumber int    `json:"severity_number"`
	Message        string `json:"message"`
	// Truncated: a column was cut to MaxFieldBytes for the table; the
	// export formats carry the whole line.
	Truncated bool `json:"truncated,omitempty"`
	// TimeReceived: the event had no time of its own (missing or
	// unreadable), so Time is when the collector received it.
	TimeReceived bool `json:"time_received,omitempty"`
	// ParseError is the record's audit.parse_error: its input was not all
	// readable (what could not be read; the raw text is kept in the
	// message or attributes). Empty for a record read whole.
	ParseError string `json:"parse_error,omitempty"`
	// Kind is "event", "marker" (a line the writer recorded about the
	// archive: Action is its kind, Message its detail) or "broken" (a line
	// that could not be decoded).
	Kind string `json:"kind"`
	// Integrity is the archive reader's status: ok, incomplete, malformed,
	// modified, unlinked, unreadable. IntegrityError says what is wrong.
	Integrity      string `json:"integrity"`
	IntegrityError string `json:"integrity_error,omitempty"`
	// Alarm: a marker in which the writer reported damage it found at a
	// start (lines cut from the end, a head that does not match).
	Alarm bool   `json:"alarm,omitempty"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	// Collector and Archive name the collector whose archive holds the
	// line, and that archive (its active file's path on that collector),
	// in an index several collectors share; empty otherwise.
	Collector string `json:"collector,omitempty"`
	Archive   string `json:"archive,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
}

// Flagged reports whether the row must be shown marked: its integrity check
// failed, or it is a writer alarm.
func (r *Row) Flagged() bool { return r.Integrity != archive.StatusOK.String() || r.Alarm }

var kindNames = [...]string{kindEvent: "event", kindMarker: "marker", kindBroken: "broken"}

// row renders row i of segment k.
func (sn *Snapshot) row(k int, i uint32) Row {
	s := sn.segs[k]
	r := Row{
		Source:        s.dicts[colSource].get(s.cols[colSource][i]),
		Resource:      s.dicts[colResource].get(s.cols[colResource][i]),
		Action:        s.dicts[colAction].get(s.cols[colAction][i]),
		Actor:         s.dicts[colActor].get(s.cols[colActor][i]),
		ClientAddress: s.dicts[colAddress].get(s.cols[colAddress][i]),
		Message:       s.message(i),
		Truncated:     s.flags[i]&flagTruncated != 0,
		TimeReceived:  s.flags[i]&flagTimeReceived != 0,
		ParseError:    s.perrs[i],
		Kind:          kindNames[s.kind[i]],
		Alarm:         s.flags[i]&flagAlarm != 0,
		File:          s.file.Name,
		Line:          s.lineNo(i),
	}
	if t := s.time[i]; t != 0 {
		r.Time = time.Unix(0, t).UTC().Format(archive.TimeLayout)
	}
	if s.flags[i]&flagSealed != 0 {
		r.Seq = s.seq[i]
	}
	if s.kind[i] == kindEvent {
		r.SeverityNumber = int(s.sev[i])
		r.Severity = severity.FromOTel(plog.SeverityNumber(s.sev[i])).String()
	}
	st, msg := sn.status(k, i)
	r.Integrity, r.IntegrityError = st.String(), msg
	if r.Alarm && r.IntegrityError == "" {
		r.IntegrityError = "the writer recorded damage to the archive: " + r.Action
	}
	return r
}

func (sn *Snapshot) status(k int, i uint32) (archive.Status, string) {
	s := sn.segs[k]
	if l := sn.link[k]; l.set && int(i) == s.firstSeal {
		return l.status, l.err
	}
	return archive.Status(s.status[i]), s.errs[i]
}

// Page is one page of a result.
type Page struct {
	Rows  []Row `json:"rows"`
	Total int   `json:"total"` // rows matching the filter
	// TotalMore: more than Total rows match (Total is CountLimit): the
	// disk index counts exactly only up to CountLimit.
	TotalMore bool `json:"total_more,omitempty"`
	Page      int  `json:"page"` // 1-based; 0 when paging by cursor
	Limit     int  `json:"limit"`
	// NextCursor continues after the last row; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Took is how long the query took (the snapshot already refreshed).
	Took    time.Duration `json:"took_ns"`
	Archive Stats         `json:"archive"`
}

// ref is one row of one segment.
type ref struct {
	seg int
	row uint32
}

// Search returns one page of the rows matching q, newest first.
func (sn *Snapshot) Search(q Query, p PageRequest) Page {
	start := time.Now()
	if p.Limit <= 0 {
		p.Limit = 50
	}
	lists := sn.matches(q)
	out := Page{Limit: p.Limit, Archive: sn.Stats, Rows: []Row{}}
	for _, l := range lists {
		out.Total += len(l)
	}
	skip := 0
	var after *cursor
	if p.Cursor != "" {
		c, _ := decodeCursor(p.Cursor)
		after = &c
	} else {
		out.Page = max(p.Page, 1)
		skip = (out.Page - 1) * p.Limit
	}
	m := sn.merge(lists, after)
	for r, ok := m.next(); ok; r, ok = m.next() {
		if skip > 0 {
			skip--
			continue
		}
		if len(out.Rows) == p.Limit {
			out.NextCursor = m.lastKey.encode()
			break
		}
		out.Rows = append(out.Rows, sn.row(r.seg, r.row))
		m.lastKey = sn.segs[r.seg].key(r.row)
	}
	out.Took = time.Since(start)
	return out
}

// Each calls fn for every row matching q, newest first, until fn returns
// false.
func (sn *Snapshot) Each(q Query, fn func(Row) bool) {
	m := sn.merge(sn.matches(q), nil)
	for r, ok := m.next(); ok; r, ok = m.next() {
		if !fn(sn.row(r.seg, r.row)) {
			return
		}
	}
}

// Count returns how many rows match q.
func (sn *Snapshot) Count(q Query) int {
	n := 0
	for _, l := range sn.matches(q) {
		n += len(l)
	}
	return n
}

// matches returns, per segment, the matching rows newest first. Segments
// are filtered in parallel.
func (sn *Snapshot) matches(q Query) [][]uint32 {
	lists := make([][]uint32, len(sn.segs))
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(len(sn.segs), 2)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				lists[k] = sn.filterSegment(k, &q)
			}
		}()
	}
	for k := range sn.segs {
		next <- k
	}
	close(next)
	wg.Wait()
	return lists
}

// dictMatch marks which strings of a column's dictionary satisfy pred;
// nil when there is nothing to check.
func dictMatch(d *dict, pred func(string) bool) []bool {
	m := make([]bool, d.len())
	for i := range m {
		m[i] = pred(d.get(uint32(i)))
	}
	return m
}

func (sn *Snapshot) filterSegment(k int, q *Query) []uint32 {
	s := sn.segs[k]
	var (
		sources, actions, resources, actors []bool
		text                                [numCols][]bool
	)
	if len(q.Sources) > 0 {
		sources = dictMatch(s.dicts[colSource], func(v string) bool {
			for _, w := range q.Sources {
				if strings.EqualFold(v, w) {
					return true
				}
			}
			return false
		})
	}
	if len(q.Actions) > 0 {
		actions = dictMatch(s.dicts[colAction], func(v string) bool { return matchAction(q.Actions, v) })
	}
	if q.Resource != "" {
		needle := newFoldNeedle(q.Resource)
		resources = dictMatch(s.dicts[colResource], needle.in)
	}
	if q.Actor != "" {
		needle := newFoldNeedle(q.Actor)
		actors = dictMatch(s.dicts[colActor], needle.in)
	}
	var textNeedle *foldNeedle
	if q.Text != "" {
		textNeedle = newFoldNeedle(q.Text)
		for c := range text {
			text[c] = dictMatch(s.dicts[c], textNeedle.in)
		}
	}
	since, until := int64(0), int64(0)
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	var out []uint32
	for _, i := range s.order {
		t := s.time[i]
		if (since != 0 && t < since) || (until != 0 && t > until) {
			continue
		}
		if sources != nil && !sources[s.cols[colSource][i]] {
			continue
		}
		if actions != nil && !actions[s.cols[colAction][i]] {
			continue
		}
		if resources != nil && !resources[s.cols[colResource][i]] {
			continue
		}
		if actors != nil && !actors[s.cols[colActor][i]] {
			continue
		}
		if q.HasSeverity {
			if s.kind[i] != kindEvent {
				continue
			}
			l := severity.FromOTel(plog.SeverityNumber(s.sev[i]))
			if (q.SeverityExact && l != q.Severity) || (!q.SeverityExact && l > q.Severity) {
				continue
			}
		}
		if q.Parse != ParseAll && (s.flags[i]&flagParseError != 0) != (q.Parse == ParseFailed) {
			continue
		}
		if q.Integrity != IntegrityAll {
			st, _ := sn.status(k, i)
			bad := st != archive.StatusOK || s.flags[i]&flagAlarm != 0
			if bad != (q.Integrity == IntegrityProblems) {
				continue
			}
		}
		if textNeedle != nil {
			hit := false
			for c := range text {
				if text[c][s.cols[c][i]] {
					hit = true
					break
				}
			}
			if !hit && !textNeedle.inParts(s.messageParts(i)) {
				continue
			}
		}
		out = append(out, i)
	}
	return out
}

// foldNeedle finds a string case-insensitively.
type foldNeedle struct {
	lower string
	ascii bool
}

func newFoldNeedle(s string) *foldNeedle {
	n := &foldNeedle{lower: strings.ToLower(s), ascii: true}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			n.ascii = false
			break
		}
	}
	return n
}

// in reports whether h contains the needle, ignoring case.
func (n *foldNeedle) in(h string) bool {
	if !n.ascii {
		return strings.Contains(strings.ToLower(h), n.lower)
	}
	nl := n.lower
	if len(nl) == 0 {
		return true
	}
	c0 := nl[0]
	upper0 := c0
	if 'a' <= c0 && c0 <= 'z' {
		upper0 = c0 - 'a' + 'A'
	}
	for i := 0; i+len(nl) <= len(h); i++ {
		if h[i] != c0 && h[i] != upper0 {
			// Jump to the next candidate.
			j := indexEither(h[i+1:], c0, upper0)
			if j < 0 {
				return false
			}
			i += j
			continue
		}
		if equalFoldASCII(h[i:i+len(nl)], nl) {
			return true
		}
	}
	return false
}

// inParts reports whether a+sep+b contains the needle, without joining
// them unless the needle may straddle a join.
func (n *foldNeedle) inParts(a, sep, b string) bool {
	if sep == "" && b == "" {
		return n.in(a)
	}
	if n.in(a) || n.in(b) {
		return true
	}
	// Only a window around the joins can hold a straddling match.
	k := len(n.lower) - 1
	return n.in(a[max(len(a)-k, 0):] + sep + b[:min(k, len(b))])
}

func indexEither(h string, a, b byte) int {
	ia := strings.IndexByte(h, a)
	if a == b {
		return ia
	}
	ib := strings.IndexByte(h, b)
	switch {
	case ia < 0:
		return ib
	case ib < 0:
		return ia
	}
	return min(ia, ib)
}

// equalFoldASCII compares h with lower, already lower-case ASCII.
func equalFoldASCII(h, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// merger yields the rows of per-segment lists newest first.
type merger struct {
	sn      *Snapshot
	lists   [][]uint32
	heads   []head
	lastKey cursor
}

type head struct {
	seg int
	pos int
	key cursor
}

// newer orders heads: the newer row first; on a tie, the later file.
func newer(a, b head) bool {
	if a.key != b.key {
		return b.key.less(a.key)
	}
	return a.seg > b.seg
}

func (sn *Snapshot) merge(lists [][]uint32, after *cursor) *merger {
	m := &merger{sn: sn, lists: lists}
	for k, l := range lists {
		pos := 0
		if after != nil {
			// Lists are newest first: skip rows not older than the cursor.
			lo, hi := 0, len(l)
			for lo < hi {
				mid := (lo + hi) / 2
				if sn.segs[k].key(l[mid]).less(*after) {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			pos = lo
		}
		if pos < len(l) {
			m.push(head{seg: k, pos: pos, key: sn.segs[k].key(l[pos])})
		}
	}
	return m
}

func (m *merger) next() (ref, bool) {
	if len(m.heads) == 0 {
		return ref{}, false
	}
	h := m.heads[0]
	r := ref{seg: h.seg, row: m.lists[h.seg][h.pos]}
	if h.pos+1 < len(m.lists[h.seg]) {
		h.pos++
		h.key = m.sn.segs[h.seg].key(m.lists[h.seg][h.pos])
		m.heads[0] = h
		m.down(0)
	} else {
		last := len(m.heads) - 1
		m.heads[0] = m.heads[last]
		m.heads = m.heads[:last]
		if last > 0 {
			m.down(0)
		}
	}
	return r, true
}

func (m *merger) push(h head) {
	m.heads = append(m.heads, h)
	i := len(m.heads) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !newer(m.heads[i], m.heads[p]) {
			break
		}
		m.heads[i], m.heads[p] = m.heads[p], m.heads[i]
		i = p
	}
}

func (m *merger) down(i int) {
	n := len(m.heads)
	for {
		l, r, best := 2*i+1, 2*i+2, i
		if l < n && newer(m.heads[l], m.heads[best]) {
			best = l
		}
		if r < n && newer(m.heads[r], m.heads[best]) {
			best = r
		}
		if best == i {
			return
		}
		m.heads[i], m.heads[best] = m.heads[best], m.heads[i]
		i = best
	}
}
