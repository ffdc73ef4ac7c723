package syslogtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A hand-written RFC 5424 message: every field set, and SD values that need
// escaping.
const (
	testValue = "q\"uote back\\slash ]bracket\nnew line é"
	testMsg   = `<165>1 2024-01-15T11:19:07.123456Z host.example app 42 MSG1 [data a="q\"uote back\\slash \]bracket` + "\n" + `new line é" b="2"][ex@32473 c="3"] hello world`
)

func send(t *testing.T, s *Server, cfg Config, msg string) {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	switch cfg.Transport {
	case TLS:
		pool := x509.NewCertPool()
		ca, rerr := os.ReadFile(cfg.TLS.CAFile)
		require.NoError(t, rerr)
		pool.AppendCertsFromPEM(ca)
		cert, cerr := tls.LoadX509KeyPair(cfg.TLS.ClientCertFile, cfg.TLS.ClientKey)
		require.NoError(t, cerr)
		c, err = tls.Dial("tcp", s.Endpoint(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	case Unix, Unixgram:
		c, err = net.Dial(cfg.Transport, s.Endpoint())
	default:
		c, err = net.Dial(cfg.Transport, s.Endpoint())
	}
	require.NoError(t, err)
	defer c.Close()
	var frame string
	switch {
	case cfg.Transport == UDP || cfg.Transport == Unixgram:
		frame = msg
	case cfg.Framing == OctetCounting:
		frame = strconv.Itoa(len(msg)) + " " + msg
	default:
		frame = msg + "\n"
	}
	_, err = c.Write([]byte(frame))
	require.NoError(t, err)
}

func TestServersParseRFC5424(t *testing.T) {
	cases := []Config{
		{Transport: TCP, Framing: OctetCounting},
		{Transport: TCP, Framing: NonTransparent},
		{Transport: TLS, Framing: OctetCounting, RequireClientCert: true},
		{Transport: TLS, Framing: NonTransparent},
		{Transport: UDP},
		{Transport: Unix, Framing: NonTransparent},
		{Transport: Unixgram},
	}
	for _, k := range Kinds {
		for _, cfg := range cases {
			if !k.Supports(cfg.Transport, cfg.Framing) {
				// rsyslog has no unix stream socket input; syslog-ng's
				// covers that transport.
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%s", k, cfg.Transport, cfg.Framing), func(t *testing.T) {
				if cfg.Transport == TLS {
					cfg.TLS = NewTLSFiles(t)
				}
				s := Start(t, k, cfg)
				msg := testMsg
				wantValue := testValue
				if cfg.Framing == NonTransparent {
					// A newline would end the frame: not this test's subject.
					msg = `<165>1 2024-01-15T11:19:07.123456Z host.example app 42 MSG1 [data a="q\"uote back\\slash \]bracket new line é" b="2"][ex@32473 c="3"] hello world`
					wantValue = "q\"uote back\\slash ]bracket new line é"
				}
				send(t, s, cfg, msg)
				got := s.WaitForMessages(1)
				require.Len(t, got, 1)
				m := got[0]
				assert.Equal(t, 165, m.Priority)
				assert.Equal(t, time.Date(2024, 1, 15, 11, 19, 7, 123456000, time.UTC), m.Timestamp.UTC())
				assert.Equal(t, "host.example", m.Hostname)
				assert.Equal(t, "app", m.AppName)
				assert.Equal(t, "42", m.ProcID)
				assert.Equal(t, "MSG1", m.MsgID)
				assert.Equal(t, map[string]map[string]string{
					"data":     {"a": wantValue, "b": "2"},
					"ex@32473": {"c": "3"},
				}, m.StructuredData)
				assert.Equal(t, "hello world", m.Message)
			})
		}
	}
}

func TestRsyslogReportsParamOrder(t *testing.T) {
	cfg := Config{Transport: TCP, Framing: OctetCounting}
	s := Start(t, Rsyslog, cfg)
	send(t, s, cfg, `<14>1 - h a - - [z@1 zz="1" a="2" m="3"][b c="4"] msg`)
	got := s.WaitForMessages(1)
	assert.Equal(t, map[string][]string{"z@1": {"zz", "a", "m"}, "b": {"c"}}, got[0].ParamOrder)
	assert.Equal(t, map[string]map[string]string{"z@1": {"zz": "1", "a": "2", "m": "3"}, "b": {"c": "4"}}, got[0].StructuredData)

	send(t, s, cfg, "<14>1 - h a - - - no structured data")
	got = s.WaitForMessages(2)
	assert.Nil(t, got[1].ParamOrder)
}

func TestRestartKeepsEndpoint(t *testing.T) {
	cfg := Config{Transport: TCP, Framing: OctetCounting}
	s := Start(t, Rsyslog, cfg)
	send(t, s, cfg, "<14>1 - h a - - - one")
	s.WaitForMessages(1)
	s.Stop()
	_, err := net.Dial("tcp", s.Endpoint())
	require.Error(t, err, "a stopped server must not accept connections")
	s.Start()
	send(t, s, cfg, "<14>1 - h a - - - two")
	got := s.WaitForMessages(2)
	assert.Equal(t, "one", got[0].Message)
	assert.Equal(t, "two", got[1].Message)
}

func TestRequireSkipsOrFails(t *testing.T) {
	// Require's skip path, observed through a subtest; the fail path is
	// what CI exercises when a server is missing.
	if os.Getenv(EnvRequireServers) == "1" {
		t.Skip("this test checks the skip path")
	}
	var skipped bool
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Require(t, "nothing here")
	})
	assert.True(t, skipped)
}

// TestMessagesWaitsForTheLineToEnd: a reader that comes while the server
// is writing a line sees the messages before it, not a parse error, and
// sees the line once it is ended.
func TestMessagesWaitsForTheLineToEnd(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			cfg := Config{Transport: TCP, Framing: OctetCounting}
			s := Start(t, k, cfg)
			send(t, s, cfg, testMsg)
			got := s.WaitForMessages(1)
			require.Len(t, got, 1)
			s.Stop()

			full, err := os.ReadFile(s.output)
			require.NoError(t, err)
			f, err := os.OpenFile(s.output, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			defer f.Close()
			half := len(full) / 2
			_, err = f.Write(full[:half])
			require.NoError(t, err)
			require.Len(t, s.Messages(), 1, "a half-written line is not a message yet")
			_, err = f.Write(full[half:])
			require.NoError(t, err)
			require.Len(t, s.Messages(), 2)
		})
	}
}
