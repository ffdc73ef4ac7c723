package auditquery

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Writer writes exported rows in one format. Close flushes what is
// buffered.
type Writer interface {
	Write(r *Row, raw []byte) error
	Close() error
}

// Formats are the export formats, by name.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
	FormatTable = "table"
)

// CSVHeader lists the CSV columns.
var CSVHeader = []string{"time", "source", "resource", "action", "actor", "client_address", "severity",
	"message", "integrity", "integrity_error", "kind", "file", "line", "seq", "parse_error", "time_received"}

type csvWriter struct{ w *csv.Writer }

// NewCSVWriter writes RFC 4180 CSV with a header row (CSVHeader). Every
// row carries its integrity status, so a failed line is marked in the
// file. A cell that a spreadsheet would run as a formula (starting with =,
// +, -, @, tab or CR) is prefixed with an apostrophe: audit data is
// attacker-influenced.
func NewCSVWriter(w io.Writer) (Writer, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return nil, err
	}
	return &csvWriter{cw}, nil
}

func (c *csvWriter) Write(r *Row, _ []byte) error {
	seq := ""
	if r.Seq != 0 {
		seq = strconv.FormatUint(r.Seq, 10)
	}
	received := ""
	if r.TimeReceived {
		received = "true"
	}
	rec := []string{r.Time, r.Source, r.Resource, r.Action, r.Actor, r.ClientAddress, r.Severity,
		r.Message, r.Integrity, r.IntegrityError, r.Kind, r.File, strconv.Itoa(r.Line), seq, r.ParseError, received}
	for i, v := range rec {
		rec[i] = defuseCell(v)
	}
	return c.w.Write(rec)
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

// defuseCell keeps a spreadsheet from reading a cell as a formula.
func defuseCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

type jsonlWriter struct{ w *bufio.Writer }

// NewJSONLWriter writes one line per row. A line whose integrity check
// passed is written exactly as the archive holds it, so it stays
// verifiable (its hash covers its bytes). Any other is written as
//
//	{"integrity":"modified","integrity_error":"…","file":"…","line":17,"raw":"<the line as found>"}
//
// so a failed line can never pass for a sound one.
func NewJSONLWriter(w io.Writer) Writer { return &jsonlWriter{bufio.NewWriterSize(w, 64<<10)} }

// flaggedLine is how a line that failed its integrity check is exported.
type flaggedLine struct {
	Integrity      string `json:"integrity"`
	IntegrityError string `json:"integrity_error"`
	File           string `json:"file"`
	Line           int    `json:"line"`
	Raw            string `json:"raw"`
}

func (j *jsonlWriter) Write(r *Row, raw []byte) error {
	if r.Integrity == "ok" && raw != nil {
		if _, err := j.w.Write(raw); err != nil {
			return err
		}
		return j.w.WriteByte('\n')
	}
	b, err := json.Marshal(flaggedLine{Integrity: r.Integrity, IntegrityError: r.IntegrityError, File: r.File, Line: r.Line, Raw: strings.ToValidUTF8(string(raw), "\uFFFD")})
	if err != nil {
		return err
	}
	if _, err := j.w.Write(b); err != nil {
		return err
	}
	return j.w.WriteByte('\n')
}

func (j *jsonlWriter) Close() error { return j.w.Flush() }

type tableWriter struct {
	tw  *tabwriter.Writer
	loc *time.Location
}

// maxCell bounds a table cell; the other formats carry whole values.
const maxCell = 80

// NewTableWriter writes an aligned text table with the viewer's columns,
// times in loc. A row whose integrity check failed (or a writer alarm)
// starts with "!!" and ends with the reason; a record whose input was not
// all readable starts with "??" (unless "!!") and ends with what could not
// be read, and its date (when it was received, having none of its own)
// says "(received)".
func NewTableWriter(w io.Writer, loc *time.Location) (Writer, error) {
	t := &tableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), loc: loc}
	_, err := fmt.Fprintln(t.tw, "  \tDATE\tSOURCE\tRESOURCE\tACTION\tACTION BY\tUSER IP/NODE\tSEVERITY\tMESSAGE\t")
	return t, err
}

func (t *tableWriter) Write(r *Row, _ []byte) error {
	mark, note := "", ""
	if r.Flagged() {
		mark = "!!"
		note = " [INTEGRITY " + strings.ToUpper(r.Integrity) + ": " + r.IntegrityError + " (" + r.File + ":" + strconv.Itoa(r.Line) + ")]"
		if r.Integrity == "ok" {
			note = " [ALARM: " + r.IntegrityError + "]"
		}
	}
	if r.ParseError != "" {
		if mark == "" {
			mark = "??"
		}
		note += " [UNPARSED: " + r.ParseError + "]"
	}
	date := r.Time
	if ts, err := time.Parse(time.RFC3339Nano, r.Time); err == nil {
		date = ts.In(t.loc).Format("2006-01-02 15:04:05.000 -07:00")
		if r.TimeReceived {
			date += " (received)"
		}
	}
	source := r.Source
	if r.Kind == "marker" {
		source = "(archive)"
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", mark, date, cell(source), cell(r.Resource),
		cell(r.Action), cell(r.Actor), cell(r.ClientAddress), cell(r.Severity), cell(r.Message)+note)
	return err
}

// cell makes a value fit one table cell: one line, no tabs, bounded.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxCell {
		cut := maxCell
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func (t *tableWriter) Close() error { return t.tw.Flush() }
