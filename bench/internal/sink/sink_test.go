package sink

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

func TestSinkCountsEventsAndChecksRFC5424(t *testing.T) {
	scheme := loadid.NewScheme(7)
	var events loadid.Set
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
	assert.Equal(t, uint64(5), st.Sampled)
	assert.Zero(t, st.Checked, "samples wait for Check")
	assert.Zero(t, st.NotRFC5424)
	s.Check()
	st = s.Stats()
	assert.Equal(t, uint64(1), st.Connections)
	assert.Equal(t, uint64(5), st.Checked)
	assert.Zero(t, st.CheckedLive)
	assert.Equal(t, uint64(1), st.NotRFC5424)
	assert.Equal(t, uint64(1), st.FramingErrors)
	assert.NotEmpty(t, st.FirstProblem)
}

func TestSinkCloseEndsOpenConnections(t *testing.T) {
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", loadid.NewScheme(1), &events, 1)
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
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", loadid.NewScheme(1), &events, 3)
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
	s.Check()
	st := s.Stats()
	assert.Equal(t, uint64(3), st.Sampled, "messages 1, 4 and 7")
	assert.Equal(t, uint64(3), st.Checked)
	assert.Equal(t, uint64(3), st.NotRFC5424)

	_, err = Listen("127.0.0.1:0", loadid.NewScheme(1), &events, 0)
	assert.ErrorContains(t, err, "checkEvery")
}

// Past the pending bound, a sample is checked as it arrives, and Check
// still checks the ones kept: every sample is checked once.
func TestSinkChecksSamplesOnArrivalPastThePendingBound(t *testing.T) {
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", loadid.NewScheme(1), &events, 1)
	require.NoError(t, err)
	defer s.Close()
	good := "<134>1 2024-01-11T09:18:32.745235Z glassix.com glassix - UserRemoved - ok"
	s.pendingMu.Lock()
	s.maxPending = 2 * len(good) // room for two
	s.pendingMu.Unlock()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(good + "\n" + good + "\n" + good + "\n<134>1 bad\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.Stats().Messages == 4 }, wait, 10*time.Millisecond)
	st := s.Stats()
	assert.Equal(t, uint64(2), st.CheckedLive)
	assert.Equal(t, uint64(2), st.Checked)
	assert.Equal(t, uint64(1), st.NotRFC5424, "the bad message was checked on arrival")
	s.Check()
	st = s.Stats()
	assert.Equal(t, uint64(4), st.Checked)
	assert.Equal(t, uint64(4), st.Sampled)
	assert.Equal(t, uint64(1), st.NotRFC5424)
	s.Check() // nothing left: nothing checked twice
	assert.Equal(t, uint64(4), s.Stats().Checked)
}

// The sink finds ids by a byte search in each frame, whatever the format.
// Odd and hostile frames must neither invent nor lose an event, and a
// repeat must be told from an id named twice in one message.
func TestSinkFindsIDsInOddMessages(t *testing.T) {
	scheme := loadid.NewScheme(0x5eed)
	id := scheme.String
	octet := func(m string) string { return strconv.Itoa(len(m)) + " " + m }
	tests := []struct {
		name     string
		stream   string
		messages uint64
		want     []uint64
		dups     uint64
	}{
		{"id in MSGID, SD and text counts once", octet("<134>1 - h a - " + id(1) + ` [d id="` + id(1) + `"] ` + id(1)), 1, []uint64{1}, 0},
		{"two events in one message (a batch) count both", octet("<134>1 - - - - - - " + id(1) + "," + id(2)), 1, []uint64{1, 2}, 0},
		{"the same id in two messages is a duplicate", octet("<1>"+id(3)) + octet("<1>"+id(3)), 2, []uint64{3}, 1},
		{"an id split across two frames is no event", octet("<1>"+id(4)[:20]) + octet("<1>"+id(4)[20:]), 2, nil, 0},
		{"an id cut by the end of a frame is no event", octet("<1>" + id(5)[:35]), 1, nil, 0},
		{"an octet frame holding a newline is one message", octet("<1>first line\n" + id(6) + "\n" + id(6)), 1, []uint64{6}, 0},
		{"a longer hex run is another token", octet("<1>" + id(7) + "0"), 1, nil, 0},
		{"adjacent ids make one long hex run: only the last stands", octet("<1>" + id(8) + id(9)), 1, []uint64{9}, 0},
		{"upper case is not ours", octet("<1>" + strings.ToUpper(id(10))), 1, nil, 0},
		{"another run's id is not ours", octet("<1>" + loadid.NewScheme(0x5eee).String(11)), 1, nil, 0},
		{"NUL bytes and invalid UTF-8 around an id", octet("<1>\x00\xff\xfe" + id(12) + "\x00\xc3"), 1, []uint64{12}, 0},
		{"an id in a line that is not a frame is dropped", "garbage " + id(13) + "\n" + octet("<1>"+id(14)), 1, []uint64{14}, 0},
		{"newline framing and octet counting mixed", "<1>" + id(15) + "\n" + octet("<1>"+id(16)) + "<1>" + id(17) + "\r\n", 3, []uint64{15, 16, 17}, 0},
		{"JSON-escaped id in a message", octet(`<1>{"body":"{\"id\":\"` + id(18) + `\"}"}`), 1, []uint64{18}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events loadid.Set
			s, err := Listen("127.0.0.1:0", scheme, &events, 1)
			require.NoError(t, err)
			defer s.Close()
			c, err := net.Dial("tcp", s.Addr())
			require.NoError(t, err)
			_, err = c.Write([]byte(tt.stream))
			require.NoError(t, err)
			require.NoError(t, c.Close()) // the sink reads to the end
			require.Eventually(t, func() bool { return s.Stats().Messages == tt.messages }, wait, 5*time.Millisecond)
			// Wait for the reader to finish the connection before counting.
			require.NoError(t, s.Close())
			var got []uint64
			for seq := range uint64(20) {
				if events.Contains(seq) {
					got = append(got, seq)
				}
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, uint64(len(tt.want)), events.Len(), "nothing beyond the first 20 ids")
			assert.Equal(t, tt.dups, events.Duplicates())
		})
	}
}

// A frame over the size limit ends the connection; the ids it held are not
// counted, and those before it are.
func TestSinkDropsTheIDsOfAnOversizedFrame(t *testing.T) {
	scheme := loadid.NewScheme(0x5eed)
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", scheme, &events, 1)
	require.NoError(t, err)
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	ok := "<1>" + scheme.String(1)
	huge := "<1>" + scheme.String(2) + strings.Repeat("x", MaxMessage)
	_, _ = c.Write([]byte(strconv.Itoa(len(ok)) + " " + ok + strconv.Itoa(len(huge)) + " " + huge))
	require.Eventually(t, func() bool { return s.Stats().FramingErrors == 1 }, wait, 10*time.Millisecond)
	assert.True(t, events.Contains(1))
	assert.False(t, events.Contains(2))
	assert.Equal(t, uint64(1), events.Len())
	assert.Equal(t, uint64(1), s.Stats().Messages)
}

// Samples fill several blocks before Check; each is checked once, as it
// arrived.
func TestSinkChecksSamplesSpanningBlocks(t *testing.T) {
	scheme := loadid.NewScheme(2)
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", scheme, &events, 1)
	require.NoError(t, err)
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	const n = 3000
	padding := strings.Repeat("x", 700)
	var stream strings.Builder
	for seq := range uint64(n) {
		msg := "<134>1 2024-01-11T09:18:32.745235Z glassix.com glassix - UserRemoved - " + scheme.String(seq) + " " + padding
		if seq == n/2 {
			msg = "<134>1 bad " + scheme.String(seq)
		}
		stream.WriteString(strconv.Itoa(len(msg)) + " " + msg)
	}
	require.Greater(t, stream.Len(), 2*pendingBlock)
	_, err = c.Write([]byte(stream.String()))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.Stats().Messages == n }, wait, 10*time.Millisecond)
	s.Check()
	st := s.Stats()
	assert.Equal(t, uint64(n), st.Checked)
	assert.Equal(t, uint64(1), st.NotRFC5424)
	assert.Equal(t, uint64(n), events.Len())
}

// contrib's syslog exporter connects for every message: each connection's
// message counts once, whichever reader (reused between connections) read it.
func TestSinkCountsAConnectionPerMessage(t *testing.T) {
	scheme := loadid.NewScheme(3)
	var events loadid.Set
	s, err := Listen("127.0.0.1:0", scheme, &events, 16)
	require.NoError(t, err)
	defer s.Close()
	const n = 200
	for seq := range uint64(n) {
		c, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		msg := "<134>1 2024-01-11T09:18:32.745235Z glassix.com glassix - UserRemoved - " + scheme.String(seq)
		_, err = c.Write([]byte(strconv.Itoa(len(msg)) + " " + msg))
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return s.Stats().Messages == n }, wait, 10*time.Millisecond)
	s.Check()
	st := s.Stats()
	assert.Equal(t, uint64(n), st.Connections)
	assert.Equal(t, uint64(n), st.Sampled, "the first message of every connection is sampled")
	assert.Zero(t, st.NotRFC5424, st.FirstProblem)
	assert.Equal(t, uint64(n), events.Len())
	assert.Zero(t, events.Duplicates())
}
