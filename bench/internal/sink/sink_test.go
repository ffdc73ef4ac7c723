package sink

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/loadtest/eventid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

func TestSinkCountsEventsAndChecksRFC5424(t *testing.T) {
	scheme := eventid.NewScheme(7)
	var events eventid.Set
	s, err := Listen("127.0.0.1:0", scheme, &events, 1)
	require.NoError(t, err)
	defer s.Close()

	valid := func(seq uint64) string {
		id := scheme.String(seq)
		return `<134>1 2024-01-11T09:18:32.745235Z glassix.com glassix - ` + id[:32] + ` [data id="` + id + `"] UserRemoved: ` + id
	}
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	stream := ""
	for _, m := range []string{valid(1), valid(2), valid(1)} { // event 1 twice
		stream += strconv.Itoa(len(m)) + " " + m
	}
	stream += valid(3) + "\n"                      // newline framing on the same connection
	stream += "<134>1 not a timestamp - - - - x\n" // parses badly
	stream += "junk\n"                             // framing error
	_, err = c.Write([]byte(stream))
	require.NoError(t, err)

	require.Eventually(t, func() bool { return s.Stats().Messages == 5 }, wait, 10*time.Millisecond)
	assert.Equal(t, uint64(3), events.Len())
	assert.Equal(t, uint64(1), events.Duplicates())
	st := s.Stats()
	assert.Equal(t, uint64(1), st.Connections)
	assert.Equal(t, uint64(5), st.Checked)
	assert.Equal(t, uint64(1), st.NotRFC5424)
	assert.Equal(t, uint64(1), st.FramingErrors)
	assert.NotEmpty(t, st.FirstProblem)
}

func TestSinkCloseEndsOpenConnections(t *testing.T) {
	var events eventid.Set
	s, err := Listen("127.0.0.1:0", eventid.NewScheme(1), &events, 1)
	require.NoError(t, err)
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return s.Stats().Connections == 1 }, wait, 10*time.Millisecond)
	require.NoError(t, s.Close()) // returns only when the reader has stopped
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err)
}

func TestSinkSamplesTheRFC5424Check(t *testing.T) {
	var events eventid.Set
	s, err := Listen("127.0.0.1:0", eventid.NewScheme(1), &events, 3)
	require.NoError(t, err)
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	for range 7 {
		_, err = c.Write([]byte("<134>1 not a timestamp - - - - x\n"))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return s.Stats().Messages == 7 }, wait, 10*time.Millisecond)
	st := s.Stats()
	assert.Equal(t, uint64(3), st.Checked, "messages 1, 4 and 7")
	assert.Equal(t, uint64(3), st.NotRFC5424)

	_, err = Listen("127.0.0.1:0", eventid.NewScheme(1), &events, 0)
	assert.ErrorContains(t, err, "checkEvery")
}
