package examples

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// The example with only the default listeners: CTREPLAY_SYSLOG_TLS and
// CTREPLAY_SYSLOG_UNIX unset leave TLS and the unix socket off instead of
// failing the start.
func TestCTReplaySyslogExampleDefaults(t *testing.T) {
	udpAddr, tcpAddr := freePort(t, "udp"), freePort(t, "tcp")
	t.Setenv("CTREPLAY_SYSLOG_UDP", udpAddr)
	t.Setenv("CTREPLAY_SYSLOG_TCP", tcpAddr)
	t.Setenv("OTELCOL_AUDIT_DATA", filepath.Join(t.TempDir(), "data"))
	p := startExample(t, loadExample(t, "ctreplay-syslog.yaml"), "logs/ctreplay")
	conn, err := net.Dial("tcp", tcpAddr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(winstonSyslog(22, 6, time.Now(), "localhost", "node", 4242, seedLine)))
	require.NoError(t, err)
	assert.Equal(t, "GET ALL Profile", p.records(1)[0].EventName())
}

func TestCTReplaySyslogExample(t *testing.T) {
	dir := t.TempDir()
	files := syslogtest.NewTLSFiles(t)
	udpAddr, tcpAddr, tlsAddr := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
	unixPath := filepath.Join(dir, "ctreplay.sock")
	t.Setenv("CTREPLAY_SYSLOG_UDP", udpAddr)
	t.Setenv("CTREPLAY_SYSLOG_TCP", tcpAddr)
	t.Setenv("CTREPLAY_SYSLOG_TLS", tlsAddr)
	t.Setenv("CTREPLAY_TLS_CERT_FILE", files.ServerCertFile)
	t.Setenv("CTREPLAY_TLS_KEY_FILE", files.ServerKey)
	t.Setenv("CTREPLAY_SYSLOG_UNIX", unixPath)
	t.Setenv("CTREPLAY_TIMEZONE", "Europe/Rome")
	t.Setenv("OTELCOL_AUDIT_DATA", filepath.Join(dir, "data"))
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
		for _, m := range []string{msg(6, seedLine), msg(3, "winston: transport error"), msg(6, deleteLine), msg(6, seedLine)} {
			_, err = conn.Write([]byte(m))
			require.NoError(t, err)
		}
		recs := p.records(3)
		require.Len(t, recs, 3, "the seed event once, though sent twice")
		r := recs[0]
		assert.Equal(t, "ctreplay", r.resAttr("audit.source"))
		assert.Equal(t, "GET ALL Profile", r.EventName())
		assert.Equal(t, time.Date(2021, 1, 8, 11, 44, 30, 479e6, time.UTC), r.Timestamp().AsTime().UTC(), "CTReplay's ts in CTREPLAY_TIMEZONE, not the syslog header's")
		assert.Equal(t, "admin", r.attr("audit.actor"))
		assert.Equal(t, "info", r.SeverityText())

		bad := recs[1]
		assert.Equal(t, "no JSON object in the syslog message: want a CTReplay event as the message text", bad.attr("audit.parse_error"))
		assert.Equal(t, msg(3, "winston: transport error"), bad.Body().Str(), "the message is kept as evidence")
		assert.Equal(t, "warning", bad.SeverityText())

		assert.Equal(t, "DELETE Recording", recs[2].EventName())
		assert.Equal(t, "notice", recs[2].SeverityText())
	})

	// The stream protocols: messages back to back, no delimiter, each one
	// out while the connection stays open and quiet.
	streams := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"tcp4", func() (net.Conn, error) { return net.Dial("tcp", tcpAddr) }},
		{"tls4", func() (net.Conn, error) {
			ca, err := os.ReadFile(files.CAFile)
			require.NoError(t, err)
			pool := x509.NewCertPool()
			require.True(t, pool.AppendCertsFromPEM(ca))
			return tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		}},
		{"unix (unixgram)", func() (net.Conn, error) { return net.Dial("unixgram", unixPath) }},
	}
	for i, s := range streams {
		t.Run(s.name, func(t *testing.T) {
			before := p.sink.LogRecordCount()
			conn, err := s.dial()
			require.NoError(t, err)
			defer conn.Close()
			user := strings.Repeat("u", i+1)
			events := []string{
				ctreplayLine("09/01/2021 - 08:00:00.001", user, "10.0.0.2", "SEARCH Recording", `<13>Jan  8 12:44:30 evil app[1]: {\"ts\":\"x\"}`, "info"),
				ctreplayLine("09/01/2021 - 08:00:00.002", user, "10.0.0.2", "DOWNLOAD Recording", "id=7", "info"),
			}
			for j, e := range events {
				_, err := conn.Write([]byte(msg(6, e)))
				require.NoError(t, err)
				recs := p.records(before + j + 1)
				require.Len(t, recs, before+j+1, "each message is out before the next is sent")
			}
			got := p.records(before + 2)[before:]
			assert.Equal(t, "SEARCH Recording", got[0].EventName())
			assert.Equal(t, `<13>Jan  8 12:44:30 evil app[1]: {"ts":"x"}`, got[0].attr("params"), "header-shaped text inside the JSON does not split the message")
			assert.Equal(t, "<absent>", got[0].attr("audit.parse_error"))
			assert.Equal(t, "DOWNLOAD Recording", got[1].EventName())
			assert.Equal(t, "notice", got[1].SeverityText(), "recording downloads are at least notice")
			assert.Equal(t, user, got[1].attr("audit.actor"))
		})
	}
}
