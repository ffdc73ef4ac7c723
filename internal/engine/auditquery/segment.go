package auditquery

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// MaxFieldBytes is how much of each shown column (above all the message)
// the index keeps. The text filter searches these bytes; exports carry the
// whole line.
const MaxFieldBytes = 512

// Kinds of row.
const (
	kindEvent  uint8 = iota
	kindMarker       // a line the writer recorded about the archive
	kindBroken       // a line that could not be decoded (malformed, incomplete, unreadable)
)

// row flags.
const (
	flagSealed    uint8 = 1 << iota // the line has chain fields (seq is its own)
	flagTruncated                   // a shown column was cut to MaxFieldBytes
	flagAlarm                       // a writer marker that reports damage
	// The message is not stored because it is made of other columns, as
	// Sippy's and CTReplay's bodies often are:
	flagMsgIsAction         // the Action column
	flagMsgIsActionResource // Action, a space, Resource
	flagTimeReceived        // the line has no event time: its time is when the collector received it
	flagParseError          // the record is flagged audit.parse_error (its input was not all readable)
)

// alarmMarkers are the markers in which the writer reports damage it found.
var alarmMarkers = map[string]bool{
	archive.MarkerTailMissing:    true,
	archive.MarkerHeadMismatch:   true,
	archive.MarkerHeadUnreadable: true,
}

// dict interns one column's strings within a segment. The strings live in
// one byte arena (a string header per distinct value would cost more than
// most values), which only grows, so strings taken from it stay valid.
type dict struct {
	data []byte
	ends []uint32          // string i is data[ends[i-1]:ends[i]]
	ids  map[string]uint32 // only while the segment grows
}

func newDict() *dict { return &dict{ends: []uint32{0}, ids: map[string]uint32{"": 0}} }

func (d *dict) len() int { return len(d.ends) }

// get returns string id without copying it.
func (d *dict) get(id uint32) string {
	start := uint32(0)
	if id > 0 {
		start = d.ends[id-1]
	}
	if start == d.ends[id] {
		return ""
	}
	return unsafe.String(&d.data[start], int(d.ends[id]-start))
}

func (d *dict) id(s string) uint32 {
	if id, ok := d.ids[s]; ok {
		return id
	}
	id := uint32(len(d.ends))
	d.data = append(d.data, s...)
	d.ends = append(d.ends, uint32(len(d.data)))
	d.ids[d.get(id)] = id
	return id
}

func (d *dict) bytes() int {
	return cap(d.data) + 4*cap(d.ends) + len(d.ids)*48
}

// Columns of a segment interned in a dict.
const (
	colSource = iota
	colResource
	colAction
	colActor
	colAddress
	numCols
)

// segment is the index of one data file: one entry per line in each
// column, in file order. A segment that is shared by snapshots is never
// changed below its row count (appends only grow it).
type segment struct {
	stem   string // the file's name without .gz: rotated files keep it when compressed
	file   archive.File
	info   os.FileInfo // of the file as indexed
	active bool

	time   []int64 // the row's sort time, Unix ns
	seq    []uint64
	off    []int64
	size   []uint32 // bytes of the line (as read: at most 1 KiB of an over-long line)
	fp     []uint64 // maphash of the line
	cols   [numCols][]uint32
	dicts  [numCols]*dict
	sev    []uint8 // OTel severity number
	status []uint8 // archive.Status
	kind   []uint8
	flags  []uint8
	msgEnd []uint32 // message i is msgs[msgEnd[i-1]:msgEnd[i]]
	msgs   []byte
	errs   map[uint32]string // integrity error of rows whose status is not OK
	perrs  map[uint32]string // parse error of flagged records (clipped)

	// order lists the rows newest first: by time, seq, then file order.
	order []uint32

	end       int64 // offset after the last complete line read
	lines     int   // lines read (the next line's number minus one)
	firstSeal int   // row of the first sealed line, -1 if none
	first     archive.Entry
	last      *archive.Seal // seal of the last sealed line
	problems  int           // rows whose status is not OK, and alarms
	warning   string        // why the active file could not be read to its end
	checked   time.Time     // when the active file was last read from its start
}

func newSegment(f archive.File, info os.FileInfo) *segment {
	s := &segment{stem: strings.TrimSuffix(f.Name, ".gz"), file: f, info: info, active: f.Active, firstSeal: -1,
		errs: map[uint32]string{}, perrs: map[uint32]string{}}
	for c := range s.dicts {
		s.dicts[c] = newDict()
	}
	return s
}

func (s *segment) rows() int { return len(s.time) }

// messageParts returns row i's message as up to three parts to join,
// without copying: most messages are stored, some are made of columns.
func (s *segment) messageParts(i uint32) (a, sep, b string) {
	switch {
	case s.flags[i]&flagMsgIsAction != 0:
		return s.dicts[colAction].get(s.cols[colAction][i]), "", ""
	case s.flags[i]&flagMsgIsActionResource != 0:
		return s.dicts[colAction].get(s.cols[colAction][i]), " ", s.dicts[colResource].get(s.cols[colResource][i])
	}
	start := uint32(0)
	if i > 0 {
		start = s.msgEnd[i-1]
	}
	if start == s.msgEnd[i] {
		return "", "", ""
	}
	return unsafe.String(&s.msgs[start], int(s.msgEnd[i]-start)), "", ""
}

func (s *segment) message(i uint32) string {
	a, sep, b := s.messageParts(i)
	return a + sep + b
}

// memory estimates the segment's heap bytes.
func (s *segment) memory() int {
	n := cap(s.time)*8 + cap(s.seq)*8 + cap(s.off)*8 + cap(s.size)*4 + cap(s.fp)*8 +
		cap(s.sev) + cap(s.status) + cap(s.kind) + cap(s.flags) + cap(s.msgEnd)*4 + cap(s.msgs) + cap(s.order)*4
	for c := range s.cols {
		n += cap(s.cols[c])*4 + s.dicts[c].bytes()
	}
	return n + len(s.errs)*64 + len(s.perrs)*64
}

// seal drops what only growing needs and copies the columns to arrays of
// their size: append leaves up to a quarter of a large array unused.
func (s *segment) seal() {
	for _, d := range s.dicts {
		d.ids = nil
		d.data, d.ends = slices.Clone(d.data), slices.Clone(d.ends)
	}
	s.time, s.seq, s.off, s.size, s.fp = slices.Clone(s.time), slices.Clone(s.seq), slices.Clone(s.off), slices.Clone(s.size), slices.Clone(s.fp)
	s.sev, s.status, s.kind, s.flags, s.msgEnd, s.msgs = slices.Clone(s.sev), slices.Clone(s.status), slices.Clone(s.kind), slices.Clone(s.flags), slices.Clone(s.msgEnd), slices.Clone(s.msgs)
	for c := range s.cols {
		s.cols[c] = slices.Clone(s.cols[c])
	}
	s.order = slices.Clone(s.order)
	s.active = false
}

// clone returns a segment sharing s's rows that can grow without changing
// what s shows: appends either fit past s's lengths or reallocate.
func (s *segment) clone() *segment {
	c := *s
	c.errs = make(map[uint32]string, len(s.errs))
	for k, v := range s.errs {
		c.errs[k] = v
	}
	c.perrs = make(map[uint32]string, len(s.perrs))
	for k, v := range s.perrs {
		c.perrs[k] = v
	}
	// dicts grow by append too; the map is shared by the growing owner only.
	for i, d := range s.dicts {
		c.dicts[i] = &dict{data: d.data, ends: d.ends, ids: d.ids}
	}
	return &c
}

// wireFields is the part of an archive line the index keeps.
type wireFields struct {
	Time           *string
	Observed       *string
	Source         string
	Event          string
	SeverityNumber int
	Message        string
	Attributes     struct {
		Actor    anyText
		Target   anyText
		Address  anyText
		Action   anyText
		Resource anyText // Sippy's own resource, with the new values
		ActionBy anyText // Sippy's actor string, u:1:3726:main_admin
		ParseErr anyText
	}
	Marker string
	Detail json.RawMessage
}

type member struct {
	name string
	dst  any
}

// decode reads the fields from raw, matching member names exactly (the
// project's JSON rule, internal/jsonpolicy): encoding/json's struct
// decoding would ignore case.
func (w *wireFields) decode(raw []byte) error {
	var top, attrs map[string]json.RawMessage // names as written
	if err := json.Unmarshal(raw, &top); err != nil {
		return err
	}
	a := &w.Attributes
	for _, group := range []struct {
		from    *map[string]json.RawMessage
		members []member
	}{
		{&top, []member{
			{"time", &w.Time}, {"observed", &w.Observed}, {"source", &w.Source}, {"event", &w.Event},
			{"severity_number", &w.SeverityNumber}, {"message", &w.Message}, {"attributes", &attrs},
			{"marker", &w.Marker}, {"detail", &w.Detail},
		}},
		{&attrs, []member{
			{"audit.actor", &a.Actor}, {"audit.target", &a.Target}, {"audit.client_address", &a.Address},
			{"audit.action", &a.Action}, {"resource", &a.Resource}, {"action_by", &a.ActionBy},
			{"audit.parse_error", &a.ParseErr},
		}},
	} {
		for _, m := range group.members {
			if r, ok := (*group.from)[m.name]; ok {
				if err := json.Unmarshal(r, m.dst); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// anyText takes any JSON value: a string as itself, anything else as its
// JSON text (an attribute is not always the type the contract expects).
type anyText string

func (a *anyText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = anyText(s)
		return nil
	}
	if string(b) == "null" {
		*a = ""
		return nil
	}
	*a = anyText(b)
	return nil
}

// fields are what a line shows, taken from its JSON.
type fields struct {
	ok    bool // the line decoded
	time  int64
	cols  [numCols]string
	msg   string
	sev   int
	kind  uint8
	alarm bool
	// received: the time is when the collector received the record (it
	// had no event time of its own).
	received bool
	parseErr string // the record's audit.parse_error
}

// extract decodes what the viewer shows from an archive line. valid says
// the line is known to follow the project's JSON rule (internal/jsonpolicy:
// the archive reader checked it); otherwise it is checked here, and a line
// that breaks the rule gives no value: with a repeated name there is none
// to choose.
func extract(raw []byte, valid bool) fields {
	if !valid && jsonpolicy.Check(raw, jsonpolicy.MaxDepth) != nil {
		return fields{kind: kindBroken, msg: string(raw)}
	}
	if f, ok := extractFast(raw); ok {
		return f
	}
	return extractSlow(raw)
}

// extractSlow is extract through encoding/json, for a line that follows the
// rule but that extractFast does not read.
func extractSlow(raw []byte) fields {
	var w wireFields
	if len(raw) == 0 || w.decode(raw) != nil {
		return fields{kind: kindBroken, msg: string(raw)}
	}
	f := fields{ok: true, time: parseNs(w.Time)}
	if f.time == 0 {
		f.time = parseNs(w.Observed)
		f.received = f.time != 0
	}
	if w.Marker != "" {
		f.kind = kindMarker
		f.cols[colAction] = w.Marker
		f.msg = string(w.Detail)
		f.alarm = alarmMarkers[w.Marker]
		return f
	}
	a := &w.Attributes
	f.cols[colSource] = w.Source
	f.cols[colResource], f.cols[colActor] = columnsFor(w.Source, string(a.Resource), string(a.Target), string(a.ActionBy), string(a.Actor))
	f.cols[colAction] = first(w.Event, string(a.Action))
	f.cols[colAddress] = string(a.Address)
	f.msg = w.Message
	f.sev = min(max(w.SeverityNumber, 0), 255)
	f.parseErr = string(a.ParseErr)
	return f
}

// add indexes one entry.
func (s *segment) add(e *archive.Entry, seed maphash.Seed) {
	i := uint32(s.rows())
	f := fields{kind: kindBroken}
	switch e.Status {
	case archive.StatusOK, archive.StatusModified, archive.StatusUnlinked:
		f = extract(e.Raw, true)
	case archive.StatusMalformed, archive.StatusIncomplete:
		// Not an archive line: shown as it is, with what it may say about
		// itself in the columns.
		f = extract(e.Raw, false)
		f.kind, f.msg, f.alarm = kindBroken, string(e.Raw), false
	}
	var seq uint64
	var flags uint8
	if e.HasSeal {
		seq, flags = e.Seal.Seq, flagSealed
		if s.firstSeal < 0 {
			s.firstSeal, s.first = int(i), *e
		}
		sl := e.Seal
		s.last = &sl
	} else if i > 0 {
		seq = s.seq[i-1]
	}
	if f.time == 0 && i > 0 {
		// An undecodable line is shown where it is, beside its neighbour.
		f.time = s.time[i-1]
	}
	if f.alarm {
		flags |= flagAlarm
	}
	if f.received {
		flags |= flagTimeReceived
	}
	if f.parseErr != "" && f.kind == kindEvent {
		flags |= flagParseError
		s.perrs[i], _ = clipText(f.parseErr)
	}
	cutCols := false
	for c := range f.cols {
		v, cut := clipText(f.cols[c])
		cutCols = cutCols || cut
		s.cols[c] = append(s.cols[c], s.dicts[c].id(v))
	}
	msg, cutMsg := clipText(f.msg)
	if cutCols || cutMsg {
		flags |= flagTruncated
	}
	act, res := f.cols[colAction], f.cols[colResource]
	switch {
	case cutCols || cutMsg || f.kind != kindEvent || msg == "":
		s.msgs = append(s.msgs, msg...)
	case msg == act:
		flags |= flagMsgIsAction
	case len(msg) == len(act)+1+len(res) && msg[len(act)] == ' ' && strings.HasPrefix(msg, act) && strings.HasSuffix(msg, res):
		flags |= flagMsgIsActionResource
	default:
		s.msgs = append(s.msgs, msg...)
	}
	s.msgEnd = append(s.msgEnd, uint32(len(s.msgs)))

	s.time = append(s.time, f.time)
	s.seq = append(s.seq, seq)
	s.off = append(s.off, e.Offset)
	s.size = append(s.size, uint32(len(e.Raw)))
	s.fp = append(s.fp, maphash.Bytes(seed, e.Raw))
	s.sev = append(s.sev, uint8(f.sev))
	s.status = append(s.status, uint8(e.Status))
	s.kind = append(s.kind, f.kind)
	s.flags = append(s.flags, flags)
	if e.Status != archive.StatusOK {
		s.errs[i] = errText(e)
		s.problems++
	} else if f.alarm {
		s.problems++
	}
	s.lines = e.Line
}

func errText(e *archive.Entry) string {
	if e.Err == nil {
		return e.Status.String()
	}
	return e.Err.Error()
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clipText cuts s to MaxFieldBytes on a rune boundary.
func clipText(s string) (string, bool) {
	if len(s) <= MaxFieldBytes {
		return s, false
	}
	cut := MaxFieldBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

func parseNs(s *string) int64 {
	if s == nil {
		return 0
	}
	return parseBytesNs([]byte(*s))
}

// parseBytesNs reads a time as the archive writes it (TimeLayout: UTC, nine
// fraction digits) without allocating, and any other RFC 3339 time with
// time.Parse. 0 when it is not a time.
func parseBytesNs(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	// 2006-01-02T15:04:05.000000000Z
	if len(b) == 30 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[29] == 'Z' {
		num := func(from, to int) (int, bool) {
			n := 0
			for _, c := range b[from:to] {
				if c < '0' || c > '9' {
					return 0, false
				}
				n = n*10 + int(c-'0')
			}
			return n, true
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		sec, ok6 := num(17, 19)
		ns, ok7 := num(20, 29)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
			if t.Day() == d {
				return t.UnixNano()
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

// sub is how many unsealed lines come between row i and the sealed line
// before it (0 for a sealed line): it orders lines that share a seq.
func (s *segment) sub(i uint32) uint32 {
	n := uint32(0)
	for ; i > 0 && s.flags[i]&flagSealed == 0; i-- {
		n++
	}
	if i == 0 && s.flags[0]&flagSealed == 0 {
		n++
	}
	return n
}

func (s *segment) key(i uint32) cursor {
	c := cursor{time: s.time[i], seq: s.seq[i]}
	if s.flags[i]&flagSealed == 0 {
		c.sub = s.sub(i)
	}
	return c
}

// sortRows updates order for the rows added since it was last sorted: the
// new rows are sorted and merged with the old order.
func (s *segment) sortRows() {
	old := s.order
	n := uint32(s.rows())
	if uint32(len(old)) == n {
		return
	}
	added := make([]uint32, 0, n-uint32(len(old)))
	for i := uint32(len(old)); i < n; i++ {
		added = append(added, i)
	}
	newerFirst := func(a, b uint32) int {
		ka, kb := s.key(a), s.key(b)
		switch {
		case kb.less(ka):
			return -1
		case ka.less(kb):
			return 1
		}
		return int(b) - int(a)
	}
	slices.SortFunc(added, newerFirst)
	merged := make([]uint32, 0, n)
	i, j := 0, 0
	for i < len(old) && j < len(added) {
		if newerFirst(old[i], added[j]) <= 0 {
			merged = append(merged, old[i])
			i++
		} else {
			merged = append(merged, added[j])
			j++
		}
	}
	merged = append(merged, old[i:]...)
	merged = append(merged, added[j:]...)
	s.order = merged
}

// fingerprintMatches reports whether raw is the line row i was built from.
func (s *segment) fingerprintMatches(i uint32, seed maphash.Seed, raw []byte) bool {
	return uint32(len(raw)) == s.size[i] && maphash.Bytes(seed, raw) == s.fp[i]
}

// describe names a row for errors.
func (s *segment) describe(i uint32) string {
	return fmt.Sprintf("%s:%d", s.file.Name, s.lineNo(i))
}

// lineNo is row i's line number in its file: rows are every line in order.
func (s *segment) lineNo(i uint32) int { return int(i) + 1 }
