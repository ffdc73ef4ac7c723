package frame

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSplit: however the stream is cut into reads, the same messages come
// out, none longer than the maximum, and the splitter never holds more
// than it was given.
func FuzzSplit(f *testing.F) {
	f.Add([]byte(h1+ev1+h1+ev2), uint8(7), uint8(0), uint16(4096))
	f.Add([]byte("10 0123456789<13>x {\"a\":\"}\"}\n"+ev1), uint8(3), uint8(2), uint16(8))
	f.Add([]byte(`<182>1 2021-01-08T12:44:30Z h a p m [x@1 a="{\"]"] `+ev1+"junk\n"), uint8(1), uint8(1), uint16(64))
	f.Fuzz(func(t *testing.T, data []byte, n, framing uint8, max uint16) {
		if n == 0 || max == 0 {
			return
		}
		fr := Framing(int(framing) % 3)
		m := int(max)
		whole := feedBytes(fr, m, data, len(data)+1)
		cut := feedBytes(fr, m, data, int(n))
		require.Equal(t, whole, cut, "read size %d", n)
		for _, g := range whole {
			require.LessOrEqual(t, len(g.Raw), m)
		}
	})
}

func feedBytes(framing Framing, max int, data []byte, n int) []got {
	s := NewSplitter(framing, max)
	var out []got
	emit := func(m Message) { out = append(out, got{string(m.Raw), m.Problem}) }
	var pending []byte
	for i := 0; i < len(data); i += n {
		pending = append(pending, data[i:min(i+n, len(data))]...)
		c := s.Split(pending, false, emit)
		if c > len(pending) {
			panic("consumed more than given")
		}
		pending = append(pending[:0], pending[c:]...)
	}
	s.Split(pending, true, emit)
	return out
}
