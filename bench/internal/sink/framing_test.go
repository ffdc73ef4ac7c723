package sink

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frames reads every frame of stream, stopping at the first error that
// ends the stream.
func frames(t *testing.T, stream string, maxLen int) (msgs []string, errs []error) {
	t.Helper()
	fr := NewFrameReader(strings.NewReader(stream), maxLen)
	for {
		msg, err := fr.Next()
		switch {
		case err == nil:
			msgs = append(msgs, string(msg))
		case errors.Is(err, io.EOF):
			return msgs, errs
		case errors.Is(err, ErrBadFrame):
			errs = append(errs, err)
		default:
			return msgs, append(errs, err)
		}
	}
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		want     []string
		wantErrs []error
	}{
		{"octet counting", "5 <1>ab3 <2>", []string{"<1>ab", "<2>"}, nil},
		{"octet counting keeps a trailing newline inside the count", "6 <1>ab\n", []string{"<1>ab\n"}, nil},
		{"newline framing", "<1>a\n<2>b\n", []string{"<1>a", "<2>b"}, nil},
		{"CRLF", "<1>a\r\n", []string{"<1>a"}, nil},
		{"mixed, frame by frame", "3 <1><2>b\n4 <3>c", []string{"<1>", "<2>b", "<3>c"}, nil},
		{"octet frame may hold a newline", "7 <1>a\nbc", []string{"<1>a\nbc"}, nil},
		{"garbage line is skipped", "garbage\n<1>ok\n", []string{"<1>ok"}, []error{ErrBadFrame}},
		{"truncated octet frame", "10 <1>ab", nil, []error{io.ErrUnexpectedEOF}},
		{"truncated line", "<1>a\n<2>no newline", []string{"<1>a"}, []error{io.ErrUnexpectedEOF}},
		{"octet count over the limit", "999 <1>", nil, []error{ErrFrameTooLarge}},
		{"octet count too many digits", "1234567 x", nil, []error{ErrBadCount}},
		{"octet count not followed by a space", "12x<1>", nil, []error{ErrBadCount}},
		{"line too long", "<1>" + strings.Repeat("a", 200) + "\n", nil, []error{ErrFrameTooLarge}},
		{"empty stream", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, errs := frames(t, tt.stream, 100)
			assert.Equal(t, tt.want, msgs)
			require.Len(t, errs, len(tt.wantErrs))
			for i := range errs {
				assert.ErrorIs(t, errs[i], tt.wantErrs[i])
			}
		})
	}
}

// A sender that stops between two messages must not hold back the last
// one: the reader may not wait for bytes beyond the frame.
func TestFrameReaderReturnsAFrameWithoutWaitingForMore(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	go func() { _, _ = w.Write([]byte("4 <1>x")) }()
	fr := NewFrameReader(r, 1000)
	msg, err := fr.Next()
	require.NoError(t, err)
	assert.Equal(t, "<1>x", string(msg))
	require.NoError(t, w.Close())
}

// A reader reset onto a new stream keeps nothing of the old one, not even
// a frame it had buffered but not returned.
func TestFrameReaderResetForgetsTheOldStream(t *testing.T) {
	fr := NewFrameReader(strings.NewReader("4 <1>a4 <2>b<3>half"), 100)
	msg, err := fr.Next()
	require.NoError(t, err)
	assert.Equal(t, "<1>a", string(msg))
	fr.Reset(strings.NewReader("4 <4>x"))
	msg, err = fr.Next()
	require.NoError(t, err)
	assert.Equal(t, "<4>x", string(msg))
	_, err = fr.Next()
	assert.ErrorIs(t, err, io.EOF)
}
