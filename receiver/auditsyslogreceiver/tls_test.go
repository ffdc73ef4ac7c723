package auditsyslogreceiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

func startTLS(t *testing.T, sink *consumertest.LogsSink) (*testReceiver, *tls.Config) {
	t.Helper()
	files := syslogtest.NewTLSFiles(t)
	r := startReceiver(t, func(cfg *Config) {
		cfg.TLS.Endpoint = "127.0.0.1:0"
		cfg.TLS.CertFile = files.ServerCertFile
		cfg.TLS.KeyFile = files.ServerKey
	}, sink)
	ca, err := os.ReadFile(files.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca))
	return r, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func TestTLS(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r, clientCfg := startTLS(t, sink)
	c, err := tls.Dial("tcp", r.addr("tls").String(), clientCfg)
	require.NoError(t, err)
	defer c.Close()
	for i := range 3 {
		_, err := c.Write([]byte(bsd(event(i, `"<13>Dec  6 12:00:00 h a: {\"x\":1}"`))))
		require.NoError(t, err)
		got := waitRecords(t, sink, i+1)
		assert.Equal(t, "user"+strconv.Itoa(i), got[i].Attrs["userID"])
		assert.Empty(t, got[i].ParseError)
	}
}

// At shutdown the receiver sends close_notify; everything the sender wrote
// before it saw that arrives.
func TestTLSShutdownDeliversEverythingRead(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r, clientCfg := startTLS(t, sink)
	c, err := tls.Dial("tcp", r.addr("tls").String(), clientCfg)
	require.NoError(t, err)
	defer c.Close()
	const n = 5000
	for i := range n {
		_, err := c.Write([]byte(bsd(event(i, `""`))))
		require.NoError(t, err)
	}
	go func() {
		_, _ = c.Read(make([]byte, 1)) // close_notify
		c.Close()
	}()
	require.NoError(t, r.Shutdown(context.Background()))
	got := records(sink)
	require.Len(t, got, n)
	for i, g := range got {
		require.Equal(t, "user"+strconv.Itoa(i), g.Attrs["userID"])
	}
}

func TestTLSRefusesPlainText(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r, _ := startTLS(t, sink)
	plain, err := dialPlain(r.addr("tls").String())
	require.NoError(t, err)
	defer plain.Close()
	_, _ = plain.Write([]byte(bsd(event(1, `""`))))
	require.NoError(t, plain.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(plain) // an alert, perhaps, then the end
	require.NoError(t, err, "the server closes the connection")
	assert.Zero(t, sink.LogRecordCount())
	require.Eventually(t, func() bool {
		return r.logs.FilterMessageSnippet("A sender wrote plain text to the TLS listener").Len() == 1
	}, 10*time.Second, 5*time.Millisecond)
}
