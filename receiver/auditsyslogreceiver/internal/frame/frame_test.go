package frame

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type got struct {
	Raw, Problem string
}

// feed passes data to a splitter in chunks of n bytes, as reads would bring
// it, then ends the stream, and returns the messages.
func feed(t *testing.T, framing Framing, max int, data string, n int) []got {
	t.Helper()
	s := NewSplitter(framing, max)
	var out []got
	emit := func(m Message) { out = append(out, got{string(m.Raw), m.Problem}) }
	var pending []byte
	for i := 0; i < len(data); i += n {
		pending = append(pending, data[i:min(i+n, len(data))]...)
		c := s.Split(pending, false, emit)
		pending = append(pending[:0], pending[c:]...)
	}
	s.Split(pending, true, emit)
	return out
}

const (
	ev1 = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`
	h1  = `<182>Jan  8 12:44:30 localhost node[4242]: `
	// A value holding text shaped like a header, braces, quotes and
	// backslashes.
	ev2 = `{"ts":"08/01/2021 - 12:44:31.000","action":"SEARCH Recording","params":"<13>Jan  8 12:00:00 evil app: {\"x\":\"}\\\\\"]","level":"info"}`
)

func TestSplitter(t *testing.T) {
	big := `{"ts":"x","action":"` + strings.Repeat("a", 100) + `"}`
	tests := []struct {
		name    string
		framing Framing
		max     int
		in      string
		want    []got
	}{
		{
			name: "winston tcp: back to back, no delimiter",
			in:   h1 + ev1 + h1 + ev2 + h1 + ev1,
			want: []got{{h1 + ev1, ""}, {h1 + ev2, ""}, {h1 + ev1, ""}},
		},
		{
			name: "eol and blanks between messages",
			in:   h1 + ev1 + "\r\n\n" + h1 + ev2 + "\n",
			want: []got{{h1 + ev1, ""}, {h1 + ev2, ""}},
		},
		{
			name: "bare JSON objects",
			in:   ev1 + ev2 + "\n" + ev1,
			want: []got{{ev1, ""}, {ev2, ""}, {ev1, ""}},
		},
		{
			name: "rfc5424 with structured data holding braces",
			in:   `<182>1 2021-01-08T12:44:30.479Z host node 42 - [x@1 a="{\"]"][y@2 b="}"] ` + ev1 + `<182>1 2021-01-08T12:44:30Z host node 42 - - ` + "\xef\xbb\xbf" + ev2,
			want: []got{{`<182>1 2021-01-08T12:44:30.479Z host node 42 - [x@1 a="{\"]"][y@2 b="}"] ` + ev1, ""}, {`<182>1 2021-01-08T12:44:30Z host node 42 - - ` + "\xef\xbb\xbf" + ev2, ""}},
		},
		{
			name: "octet counted frames are read whatever the framing",
			in:   "8 <13>abcd" + "10 <13>x\ny {}",
			want: []got{{"<13>abcd", ""}, {"<13>x\ny {}", ""}},
		},
		{
			name: "text that is not JSON ends at the line end or the next header",
			in:   "<13>Jan  8 12:00:00 host app: hello\n<13>Jan  8 12:00:00 host app: again" + h1 + ev1,
			want: []got{{"<13>Jan  8 12:00:00 host app: hello", ""}, {"<13>Jan  8 12:00:00 host app: again", ""}, {h1 + ev1, ""}},
		},
		{
			name: "text after the object is a message of its own",
			in:   h1 + ev1 + "junk\n" + h1 + ev1,
			want: []got{{h1 + ev1, ""}, {"junk", ""}, {h1 + ev1, ""}},
		},
		{
			name: "stream ends inside an object: one flagged message",
			in:   h1 + ev1 + h1 + `{"ts":"08/01/2021 - 1`,
			want: []got{{h1 + ev1, ""}, {h1 + `{"ts":"08/01/2021 - 1`, "the stream ended inside a message (64 bytes received of it)"}},
		},
		{
			name: "too long JSON: first max bytes, the rest dropped, the next message intact",
			max:  64,
			in:   h1 + big + h1 + `{"a":"b"}`,
			want: []got{{(h1 + big)[:64], "message longer than max_message_size (64 bytes): the first 64 bytes are kept, the rest was discarded"}, {h1 + `{"a":"b"}`, ""}},
		},
		{
			name: "too long octet counted frame",
			max:  4,
			in:   "10 0123456789" + "2 ab",
			want: []got{{"0123", "message of 10 bytes is longer than max_message_size (4 bytes): the first 4 bytes are kept, the rest was discarded"}, {"ab", ""}},
		},
		{
			name:    "newline framing",
			framing: Newline,
			in:      h1 + `{"a":"}"}` + "\r\n" + h1 + "{\n" + "x",
			want:    []got{{h1 + `{"a":"}"}`, ""}, {h1 + "{", ""}, {"x", ""}},
		},
		{
			name:    "newline framing, too long line",
			framing: Newline,
			max:     5,
			in:      "0123456789\nab\n",
			want:    []got{{"01234", "message longer than max_message_size (5 bytes): the first 5 bytes are kept, the rest was discarded"}, {"ab", ""}},
		},
		{
			name:    "octet counting framing: an uncounted line is one message",
			framing: OctetCounting,
			in:      "hello <13> world\n3 abc",
			want:    []got{{"hello <13> world", ""}, {"abc", ""}},
		},
	}
	for _, tt := range tests {
		max := tt.max
		if max == 0 {
			max = 1 << 20
		}
		for _, n := range []int{1, 2, 7, 64, len(tt.in)} {
			out := feed(t, tt.framing, max, tt.in, n)
			require.Equal(t, tt.want, out, "%s, read %d bytes at a time", tt.name, n)
		}
	}
}

// TestSplitterNoHoldBack: a complete object is emitted by the read that
// completes it, with no later data needed.
func TestSplitterNoHoldBack(t *testing.T) {
	s := NewSplitter(JSON, 1<<20)
	var out []string
	data := []byte(h1 + ev1)
	c := s.Split(data, false, func(m Message) { out = append(out, string(m.Raw)) })
	assert.Equal(t, len(data), c)
	assert.Equal(t, []string{h1 + ev1}, out)
	assert.False(t, s.Pending())
}

func TestBodyStart(t *testing.T) {
	tests := []struct {
		in    string
		atEOF bool
		start int
		res   BodyStartResult
	}{
		{h1 + ev1, true, len(h1), Found},
		{ev1, true, 0, Found},
		{"<182>Jan  8 12:44:30 localhost node[4242]: ", false, 0, NeedMore},
		{"<182>Jan  8 12:44:30 localhost node[4242]: ", true, 0, NoJSON},
		{"<182>Jan  8 12:44:30 host app: text\n{", true, 0, NoJSON},
		{"<182>Jan  8 host app: text <13>x {", true, 0, NoJSON},
		{"<1824>x {}", true, 0, NoJSON},
		{"<182", false, 0, NeedMore},
		{"<182>1 2021-01-08T12:44:30Z h a p m - {}", true, 38, Found},
		{"<182>1 2021-01-08T12:44:30Z h a p m - text", true, 0, NoJSON},
		{"<182>1 2021-01-08T12:44:30Z h a p m [x", false, 0, NeedMore},
		{"hello", true, 0, NoJSON},
	}
	for _, tt := range tests {
		start, res := BodyStart([]byte(tt.in), tt.atEOF)
		assert.Equal(t, tt.res, res, tt.in)
		assert.Equal(t, tt.start, start, tt.in)
	}
}

func TestParseFraming(t *testing.T) {
	for _, f := range []Framing{JSON, Newline, OctetCounting} {
		got, err := ParseFraming(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	_, err := ParseFraming("lines")
	assert.EqualError(t, err, `unknown framing "lines": want json, newline or octet_counting`)
}
