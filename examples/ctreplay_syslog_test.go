package examples

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCTReplaySyslogExample(t *testing.T) {
	udpAddr, tcpAddr := freePort(t, "udp"), freePort(t, "tcp")
	t.Setenv("CTREPLAY_SYSLOG_UDP", udpAddr)
	t.Setenv("CTREPLAY_SYSLOG_TCP", tcpAddr)
	t.Setenv("OTELCOL_AUDIT_DATA", filepath.Join(t.TempDir(), "data"))
	conf := loadExample(t, "ctreplay-syslog.yaml")
	p := startExample(t, conf, "logs/ctreplay")

	// CTReplay's host clock and the syslogFacility of seed 001's example.
	now := time.Date(2021, 1, 8, 12, 44, 30, 0, time.Local)
	const local6 = 22
	msg := func(severity int, body string) string {
		return winstonSyslog(local6, severity, now, "localhost", "node", 4242, body)
	}

	t.Run("udp4, CTReplay's default", func(t *testing.T) {
		conn, err := net.Dial("udp", udpAddr)
		require.NoError(t, err)
		defer conn.Close()
		// Datagrams may be lost before the listener is up: send until the
		// first arrives (the same event each time: the copies are
		// duplicates and dropped).
		require.Eventually(t, func() bool {
			_, err := conn.Write([]byte(msg(6, seedLine)))
			require.NoError(t, err)
			return p.sink.LogRecordCount() > 0
		}, 30*time.Second, 100*time.Millisecond)
		_, err = conn.Write([]byte(msg(3, "winston: transport error")))
		require.NoError(t, err)
		_, err = conn.Write([]byte(msg(6, deleteLine)))
		require.NoError(t, err)

		recs := p.records(3)
		require.Len(t, recs, 3, "the seed event once, however often it was sent")
		r := recs[0]
		assert.Equal(t, "ctreplay", r.resAttr("audit.source"))
		assert.Equal(t, "GET ALL Profile", r.EventName())
		assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), r.Timestamp().AsTime().UTC(), "CTReplay's ts, not the syslog header's")
		assert.Equal(t, "admin", r.attr("audit.actor"))
		assert.Equal(t, "localhost", r.attr("hostname"), "the syslog header's fields are kept")
		assert.Equal(t, "node", r.attr("appname"))
		assert.Equal(t, "<absent>", r.attr("message"), "the message became the attributes")
		assert.Equal(t, "info", r.SeverityText())

		bad := recs[1]
		assert.Contains(t, bad.attr("audit.parse_error"), "line is not a JSON object")
		assert.Equal(t, "winston: transport error", bad.attr("message"), "the text is kept as evidence")
		assert.Equal(t, "warning", bad.SeverityText())

		assert.Equal(t, "DELETE Recording", recs[2].EventName())
		assert.Equal(t, "notice", recs[2].SeverityText())
	})

	t.Run("tcp4, messages with no delimiter", func(t *testing.T) {
		before := p.sink.LogRecordCount()
		var conn net.Conn
		require.Eventually(t, func() bool {
			var err error
			conn, err = net.Dial("tcp", tcpAddr)
			return err == nil
		}, 30*time.Second, 50*time.Millisecond)
		events := []string{
			ctreplayLine("09/01/2021 - 08:00:00.001", "bob", "10.0.0.2", "SEARCH Recording", `caller=<123>`, "info"),
			ctreplayLine("09/01/2021 - 08:00:00.002", "bob", "10.0.0.2", "DOWNLOAD Recording", "id=7", "info"),
			"not json either",
			ctreplayLine("09/01/2021 - 08:00:00.003", "bob", "10.0.0.2", "PLAY Recording", "id=7", "info"),
		}
		var stream strings.Builder
		for _, e := range events {
			stream.WriteString(msg(6, e)) // winston-syslog's queue.join(''): no delimiter
		}
		// Written in pieces that cut headers and JSON in odd places.
		s, from := stream.String(), 0
		for _, to := range []int{3, 43, 250, 251, 400, len(stream.String())} {
			_, err := conn.Write([]byte(s[from:to]))
			require.NoError(t, err)
			from = to
		}

		// A message is complete when the next header arrives: three of the
		// four are out while the connection stays open.
		recs := p.records(before + 3)
		require.Len(t, recs, before+3)
		// The last is emitted when CTReplay closes the connection.
		require.NoError(t, conn.Close())
		recs = p.records(before + 4)
		require.Len(t, recs, before+4)

		got := recs[before:]
		assert.Equal(t, "SEARCH Recording", got[0].EventName())
		assert.Equal(t, "caller=<123>", got[0].attr("params"), "a <PRI>-like text inside the JSON does not split the message")
		assert.Equal(t, "DOWNLOAD Recording", got[1].EventName())
		assert.Equal(t, "notice", got[1].SeverityText(), "recording downloads are at least notice")
		assert.Contains(t, got[2].attr("audit.parse_error"), "line is not a JSON object")
		assert.Equal(t, "not json either", got[2].attr("message"))
		assert.Equal(t, "PLAY Recording", got[3].EventName())
		for _, r := range got {
			assert.Equal(t, "ctreplay", r.resAttr("audit.source"))
		}
	})
}
