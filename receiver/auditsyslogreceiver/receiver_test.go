package auditsyslogreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

const seedEvent = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`

// The seed event becomes the record the auditwebhook receiver makes of it,
// over every transport and both header formats.
func TestRecordContract(t *testing.T) {
	want := rec{
		Source:    "ctreplay",
		EventName: "GET ALL Profile",
		Body:      "GET ALL Profile",
		Attrs: map[string]any{
			"ts": "08/01/2021 - 12:44:30.479", "domain": "SAASFCL", "userID": "admin",
			"ipAddress": "::1", "action": "GET ALL Profile", "params": "", "level": "info",
		},
		Timestamp: time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC),
	}
	headers := map[string]string{
		"rfc3164": bsd(seedEvent),
		"rfc5424": "<182>1 2026-12-06T12:44:30.123Z localhost node 4242 - - " + seedEvent,
		"none":    seedEvent,
	}
	for _, transport := range []string{"tcp", "udp", "unix", "unixgram"} {
		for name, msg := range headers {
			t.Run(transport+"/"+name, func(t *testing.T) {
				sink := new(consumertest.LogsSink)
				r := startReceiver(t, nil, sink)
				c := r.dial(t, transport)
				_, err := c.Write([]byte(msg))
				require.NoError(t, err)
				got := waitRecords(t, sink, 1)
				assert.Equal(t, want, got[0])
			})
		}
	}
}

// winston-syslog writes messages back to back on a stream with no
// delimiter: each must arrive while the connection stays open and quiet
// (no message waits for the next one), and header-shaped text, quotes,
// brackets, backslashes, escaped newlines and non-ASCII in a value never
// split an event.
func TestStreamNoHoldBackAndHostileValues(t *testing.T) {
	hostile := []string{
		`"<13>Dec  6 12:00:00 evil-host app[1]: {\"ts\":\"01/01/2030 - 00:00:00\",\"action\":\"forged\"}"`,
		`"quote \" bracket ] [ brace } { backslash \\ end"`,
		`"line1\nline2\r\n<14>Dec  6 12:00:00 h a: x"`,
		`"città ☃ 日本 \u00e8"`,
		`{"nested":{"a":["}",{"b":"{"}]}}`,
		`"` + strings.Repeat("x", 64<<10) + `"`,
	}
	for _, transport := range []string{"tcp", "unix"} {
		t.Run(transport, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			r := startReceiver(t, nil, sink)
			c := r.dial(t, transport)
			for i, p := range hostile {
				_, err := c.Write([]byte(bsd(event(i, p))))
				require.NoError(t, err)
				// Each arrives before the next is sent.
				got := waitRecords(t, sink, i+1)
				last := got[i]
				assert.Empty(t, last.ParseError, "record %d", i)
				assert.Equal(t, fmt.Sprintf("user%d", i), last.Attrs["userID"], "record %d", i)
				assert.Equal(t, "SEARCH Recording", last.EventName)
			}
			got := records(sink)
			assert.Equal(t, "<13>Dec  6 12:00:00 evil-host app[1]: {\"ts\":\"01/01/2030 - 00:00:00\",\"action\":\"forged\"}", got[0].Attrs["params"])
			assert.Equal(t, "line1\nline2\r\n<14>Dec  6 12:00:00 h a: x", got[2].Attrs["params"])
			assert.Equal(t, "città ☃ 日本 è", got[3].Attrs["params"])
			assert.Len(t, got[5].Attrs["params"], 64<<10)
		})
	}
}

// Bad input becomes exactly one flagged record holding the raw text, and
// the good events around it are intact.
func TestBadInputOneFlaggedRecordEach(t *testing.T) {
	tests := []struct {
		name, bad, problem string
	}{
		{"not JSON", bsd("plain text message") + "\n", "no JSON object in the syslog message: want a CTReplay event as the message text"},
		{"invalid JSON", bsd(`{"ts":"08/01/2021 - 12:44:30","action":"x",}`), "ctreplay: line is not a JSON object: column 44: expected a member name in quotes"},
		{"duplicate key", bsd(`{"ts":"08/01/2021 - 12:44:30","action":"x","action":"y"}`), "ctreplay: line is not a JSON object: "},
		{"missing action", bsd(`{"ts":"08/01/2021 - 12:44:30","userID":"u"}`), "action: missing"},
		{"too long", bsd(`{"ts":"08/01/2021 - 12:44:30","action":"` + strings.Repeat("a", 5000) + `"}`), "longer than max_message_size (4096 bytes): the first 4096 bytes are kept"},
	}
	for _, transport := range []string{"tcp", "udp", "unix", "unixgram"} {
		for _, tt := range tests {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				sink := new(consumertest.LogsSink)
				r := startReceiver(t, func(cfg *Config) { cfg.MaxMessageSize = 4096 }, sink)
				c := r.dial(t, transport)
				for _, m := range []string{bsd(event(1, `""`)), tt.bad, bsd(event(2, `""`))} {
					_, err := c.Write([]byte(m))
					require.NoError(t, err)
				}
				got := waitRecords(t, sink, 3)
				assert.Equal(t, "user1", got[0].Attrs["userID"])
				assert.Equal(t, "user2", got[2].Attrs["userID"])
				assert.Empty(t, got[0].ParseError)
				assert.Empty(t, got[2].ParseError)
				assert.Contains(t, got[1].ParseError, tt.problem)
				if tt.name != "missing action" {
					raw := strings.TrimSuffix(tt.bad, "\n")
					if len(raw) > 4096 {
						raw = raw[:4096]
					}
					assert.Equal(t, raw, got[1].Body, "the raw message is kept")
					assert.Empty(t, got[1].Attrs)
				}
				assert.EqualValues(t, 1, r.metricSum(t, "otelcol_receiver_auditsyslog_flagged_messages", attribute.String("transport", transport)))
			})
		}
	}
}

// A connection closed inside a message: the part received is one flagged
// record.
func TestTruncatedAtClose(t *testing.T) {
	for _, transport := range []string{"tcp", "unix"} {
		t.Run(transport, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			r := startReceiver(t, nil, sink)
			c := r.dial(t, transport)
			cut := bsd(event(2, `"abc`))[:80]
			_, err := c.Write([]byte(bsd(event(1, `""`)) + cut))
			require.NoError(t, err)
			require.NoError(t, c.Close())
			got := waitRecords(t, sink, 2)
			assert.Equal(t, "user1", got[0].Attrs["userID"])
			assert.Equal(t, cut, got[1].Body)
			assert.Equal(t, "the stream ended inside a message (80 bytes received of it)", got[1].ParseError)
		})
	}
}

func TestIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		// CI (OTELCOL_AUDIT_REQUIRE_SERVERS=1) fails rather than skips.
		archivetest.SkipOrFail(t, "no IPv6 loopback on this machine: %v", err)
	} else {
		l.Close()
	}
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, func(cfg *Config) {
		cfg.TCP.Endpoint = "[::1]:0"
		cfg.UDP.Endpoint = "[::1]:0"
	}, sink)
	for i, transport := range []string{"tcp", "udp"} {
		c := r.dial(t, transport)
		assert.Contains(t, c.RemoteAddr().String(), "[::1]")
		_, err := c.Write([]byte(bsd(event(i, `""`))))
		require.NoError(t, err)
		waitRecords(t, sink, i+1)
	}
}

// refusingSink refuses the first n calls with a retryable error.
type refusingSink struct {
	consumertest.LogsSink
	refusals atomic.Int64
}

func (s *refusingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if s.refusals.Add(-1) >= 0 {
		return errors.New("memory limit reached")
	}
	return s.LogsSink.ConsumeLogs(ctx, ld)
}

// While the pipeline refuses, a stream is not read (back-pressure), and
// every event arrives once it accepts again.
func TestBackPressure(t *testing.T) {
	for _, transport := range []string{"tcp", "unix", "udp", "unixgram"} {
		t.Run(transport, func(t *testing.T) {
			sink := &refusingSink{}
			sink.refusals.Store(5)
			r := startReceiver(t, nil, sink)
			c := r.dial(t, transport)
			const n = 200
			for i := range n {
				_, err := c.Write([]byte(bsd(event(i, `""`))))
				require.NoError(t, err)
			}
			got := waitRecords(t, &sink.LogsSink, n)
			for i, g := range got {
				assert.Equal(t, "user"+strconv.Itoa(i), g.Attrs["userID"])
			}
			assert.Positive(t, r.metricSum(t, "otelcol_receiver_refused_log_records", attribute.String("transport", transport)))
		})
	}
}

// A permanent refusal drops the batch, counted, and the receiver goes on.
func TestPermanentRefusal(t *testing.T) {
	var calls atomic.Int64
	sink := new(consumertest.LogsSink)
	next, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		if calls.Add(1) == 1 {
			return consumererror.NewPermanent(errors.New("bad data"))
		}
		return sink.ConsumeLogs(ctx, ld)
	})
	require.NoError(t, err)
	r := startReceiver(t, nil, next)
	c := r.dial(t, "tcp")
	_, err = c.Write([]byte(bsd(event(1, `""`))))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return r.metricSum(t, "otelcol_receiver_auditsyslog_dropped_messages", attribute.String("reason", "permanent")) == 1
	}, 10*time.Second, 5*time.Millisecond)
	_, err = c.Write([]byte(bsd(event(2, `""`))))
	require.NoError(t, err)
	got := waitRecords(t, sink, 1)
	assert.Equal(t, "user2", got[0].Attrs["userID"])
}

// Shutdown while a sender writes: every message written before the
// receiver asked the sender to close arrives, each once; the sender then
// sees the connection closed.
func TestShutdownDeliversEverythingRead(t *testing.T) {
	for _, transport := range []string{"tcp", "unix"} {
		t.Run(transport, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			r := startReceiver(t, nil, sink)
			c := r.dial(t, transport)
			const n = 20000
			var sent int
			for sent = 0; sent < n; sent++ {
				_, err := c.Write([]byte(bsd(event(sent, `""`))))
				require.NoError(t, err)
			}
			// The sender stops writing and closes when it sees the FIN
			// (winston-syslog does, through node's allowHalfOpen=false).
			go func() {
				buf := make([]byte, 1)
				_, _ = c.Read(buf)
				c.Close()
			}()
			require.NoError(t, r.Shutdown(context.Background()))
			got := records(sink)
			require.Len(t, got, n)
			for i, g := range got {
				require.Equal(t, "user"+strconv.Itoa(i), g.Attrs["userID"])
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, func(cfg *Config) { cfg.MaxConnections = 1 }, sink)
	c1 := r.dial(t, "tcp")
	_, err := c1.Write([]byte(bsd(event(1, `""`))))
	require.NoError(t, err)
	waitRecords(t, sink, 1)
	c2 := r.dial(t, "tcp")
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c2.Read(make([]byte, 1))
	assert.Error(t, err, "the second connection is closed")
	assert.EqualValues(t, 1, r.metricSum(t, "otelcol_receiver_auditsyslog_refused_connections"))
	assert.Equal(t, 1, r.logs.FilterMessage("Connection refused: max_connections are open").Len())
}

// An idle connection is closed by the receiver; a message the sender had
// written is delivered.
func TestIdleTimeout(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, func(cfg *Config) { cfg.IdleTimeout = 50 * time.Millisecond }, sink)
	c := r.dial(t, "tcp")
	_, err := c.Write([]byte(bsd(event(1, `""`))))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "the receiver closed the idle connection")
	waitRecords(t, sink, 1)
}

// winston-syslog cuts a message longer than 65507 bytes into datagrams of
// 65507 bytes; they are joined again.
func TestUDPReassembly(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, nil, sink)
	c := r.dial(t, "udp")
	msg := []byte(bsd(event(7, `"`+strings.Repeat("€", 50000)+`"`)))
	require.Greater(t, len(msg), 2*udpChunk)
	for off := 0; off < len(msg); off += udpChunk {
		_, err := c.Write(msg[off:min(off+udpChunk, len(msg))])
		require.NoError(t, err)
	}
	_, err := c.Write([]byte(bsd(event(8, `""`))))
	require.NoError(t, err)
	got := waitRecords(t, sink, 2)
	assert.Empty(t, got[0].ParseError)
	assert.Equal(t, "user7", got[0].Attrs["userID"])
	assert.Equal(t, strings.Repeat("€", 50000), got[0].Attrs["params"])
	assert.Equal(t, "user8", got[1].Attrs["userID"])
}

// A piece whose rest never comes is handed on, flagged, after a moment.
func TestUDPReassemblyGivesUp(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, nil, sink)
	c := r.dial(t, "udp")
	msg := []byte(bsd(event(7, `"`+strings.Repeat("x", 70000)+`"`)))
	_, err := c.Write(msg[:udpChunk])
	require.NoError(t, err)
	got := waitRecords(t, sink, 1)
	assert.Equal(t, "the message's JSON object does not close: the rest of a message cut into datagrams never came", got[0].ParseError)
	assert.Len(t, got[0].Body, udpChunk)
}

// blockingSink holds every call until release is closed.
type blockingSink struct {
	consumertest.LogsSink
	release chan struct{}
}

func (s *blockingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	<-s.release
	return s.LogsSink.ConsumeLogs(ctx, ld)
}

// UDP's reader never waits on the pipeline: with the hand-off full,
// datagrams are dropped, counted and logged, and the rest arrive.
func TestUDPQueueFullDropsCounted(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	r := startReceiver(t, func(cfg *Config) { cfg.QueueSize = 10 }, sink)
	c := r.dial(t, "udp")
	const n = 100
	for i := range n {
		_, err := c.Write([]byte(bsd(event(i, `""`))))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return r.metricSum(t, "otelcol_receiver_auditsyslog_dropped_messages", attribute.String("reason", "queue_full")) > 0
	}, 10*time.Second, 5*time.Millisecond)
	close(sink.release)
	dropped := r.metricSum(t, "otelcol_receiver_auditsyslog_dropped_messages", attribute.String("reason", "queue_full"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dropped = r.metricSum(t, "otelcol_receiver_auditsyslog_dropped_messages", attribute.String("reason", "queue_full"))
		assert.EqualValues(c, n, int64(sink.LogRecordCount())+dropped)
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, r.logs.FilterMessageSnippet("the hand-off to the pipeline was full").Len())
}

// The kernel's count of datagrams it dropped reaches the receiver's
// metrics: a socket with a tiny buffer that nobody reads overflows.
func TestKernelDropCounter(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer pc.Close()
	require.NoError(t, enableDropCounter(pc))
	_, _, err = setReceiveBuffer(pc, 4096)
	require.NoError(t, err)
	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	defer c.Close()
	for range 200 {
		_, err := c.Write([]byte(bsd(event(1, `""`))))
		require.NoError(t, err)
	}
	// A datagram carries the count as it was when it was queued: the ones
	// queued before the drops carry none. Read them, then send one more.
	buf, oob := make([]byte, 2048), make([]byte, 128)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	for {
		if _, _, _, _, err := pc.ReadMsgUDP(buf, oob); err != nil {
			break
		}
	}
	_, err = c.Write([]byte(bsd(event(2, `""`))))
	require.NoError(t, err)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, oobn, _, _, err := pc.ReadMsgUDP(buf, oob)
	require.NoError(t, err)
	drops, ok := parseDropCounter(oob[:oobn])
	require.True(t, ok, "the kernel attached its drop counter")
	assert.Greater(t, drops, uint32(100))
}

// /proc/net/udp shows the drops of a burst that no later datagram reported.
func TestProcUDPDrops(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer pc.Close()
	_, _, err = setReceiveBuffer(pc, 4096)
	require.NoError(t, err)
	ino, err := socketInode(pc)
	require.NoError(t, err)
	before, ok := procUDPDrops(ino)
	require.True(t, ok, "the socket is in /proc/net/udp")
	assert.Zero(t, before)
	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	defer c.Close()
	for range 200 {
		_, err := c.Write([]byte(bsd(event(1, `""`))))
		require.NoError(t, err)
	}
	after, ok := procUDPDrops(ino)
	require.True(t, ok)
	assert.Greater(t, after, uint32(100))
}

func TestNoListenerWarns(t *testing.T) {
	r := startReceiver(t, func(cfg *Config) {
		cfg.UDP.Endpoint, cfg.TCP.Endpoint, cfg.Unix.Endpoint, cfg.Unixgram.Endpoint = "", "", "", ""
	}, consumertest.NewNop())
	assert.Equal(t, 1, r.logs.FilterMessageSnippet("No syslog listener configured").Len())
}
