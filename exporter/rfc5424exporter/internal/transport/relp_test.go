package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport/relptest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

func numberedMsgs(from, to int) [][]byte {
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Appendf(nil, "<14>1 - - - - - - message %d", i))
	}
	return out
}

func newRELP(t *testing.T, cfg RELPConfig) *RELPSender {
	t.Helper()
	s, err := NewRELP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func TestRELPDeliversInOrderAndClosesPolitely(t *testing.T) {
	srv := relptest.Start(t, relptest.Options{})
	s, err := NewRELP(RELPConfig{Address: srv.Addr()})
	require.NoError(t, err)

	batch := numberedMsgs(0, 1000)
	batch[3] = []byte("<14>1 - - - - - - line one\nline two\n") // RELP frames by length: LF is data
	delivered := make([]bool, len(batch))
	res, err := s.Send(context.Background(), batch, delivered)
	require.NoError(t, err)
	assert.Equal(t, RELPResult{Delivered: 1000}, res)
	assert.NotContains(t, delivered, false)
	// A second batch uses the same session.
	more := numberedMsgs(1000, 1010)
	_, err = s.Send(context.Background(), more, make([]bool, len(more)))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	assert.Equal(t, strs(append(batch, more...)), strs(srv.Messages()))
	assert.Equal(t, 1, srv.Sessions())
	assert.Equal(t, []string{"relp_version=0\nrelp_software=otelcol-audit,rfc5424exporter\ncommands=syslog"}, srv.Opens())
	assert.Eventually(t, func() bool { return srv.Closes() == 1 }, 5*time.Second, 5*time.Millisecond, "close command sent")
}

func TestRELPKeepsToTheWindow(t *testing.T) {
	const window = 7
	srv := relptest.Start(t, relptest.Options{HoldAnswers: true, Window: window})
	s := newRELP(t, RELPConfig{Address: srv.Addr(), Window: window})
	batch := numberedMsgs(0, 100)
	_, err := s.Send(context.Background(), batch, make([]bool, len(batch)))
	require.NoError(t, err)
	assert.Equal(t, strs(batch), strs(srv.Messages()))
	// The server answers only when the client stops sending: had the
	// client sent an eighth message before an answer, the server would
	// have held eight.
	assert.LessOrEqual(t, srv.MaxUnanswered(), window)
	assert.Greater(t, srv.MaxUnanswered(), 1, "commands are pipelined, not sent one by one")
}

// sendUntilDelivered sends batch again and again, each time only the
// messages not yet delivered, as exporterhelper's retry does with the
// records a push hands back, and adds up the results.
func sendUntilDelivered(t *testing.T, s *RELPSender, batch [][]byte) (RELPResult, []error) {
	t.Helper()
	var total RELPResult
	var errs []error
	pending := batch
	for attempt := 0; len(pending) > 0; attempt++ {
		require.Less(t, attempt, 50, "not delivered after 50 attempts: %v", errs)
		delivered := make([]bool, len(pending))
		res, err := s.Send(context.Background(), pending, delivered)
		total.Delivered += res.Delivered
		total.Unconfirmed += res.Unconfirmed
		total.Refused += res.Refused
		if err != nil {
			errs = append(errs, err)
			s.backoff.succeeded() // no wait in a test
		}
		var rest [][]byte
		for i, ok := range delivered {
			if !ok {
				rest = append(rest, pending[i])
			}
		}
		if err == nil {
			require.Empty(t, rest)
		}
		pending = rest
	}
	return total, errs
}

func TestRELPBrokenSessionsLoseNothing(t *testing.T) {
	cases := []struct {
		name   string
		action relptest.Action
		want   string
		// kept: the server kept the message it broke on, so the resend
		// duplicates it.
		kept bool
	}{
		{"connection dropped after the server kept a message", relptest.CrashAfter, "session broken", true},
		{"connection dropped before the server kept a message", relptest.CrashBefore, "session broken", false},
		{"serverclose hint", relptest.ServerClose, "serverclose", false},
		{"garbage answer", relptest.Garbage, "protocol error", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Break the session at messages 250 and 700 (counted as the
			// server receives them, resends included).
			srv := relptest.Start(t, relptest.Options{Decide: func(n int, _ []byte) relptest.Action {
				if n == 250 || n == 700 {
					return c.action
				}
				return relptest.Accept
			}})
			s := newRELP(t, RELPConfig{Address: srv.Addr(), Window: 64})
			batch := numberedMsgs(0, 1000)
			total, errs := sendUntilDelivered(t, s, batch)
			require.Len(t, errs, 2)
			for _, err := range errs {
				assert.ErrorContains(t, err, c.want)
				assert.ErrorContains(t, err, "they are sent again")
			}
			assert.Equal(t, len(batch), total.Delivered, "every message answered 200 exactly once")
			assert.Positive(t, total.Unconfirmed)
			assert.Equal(t, 3, srv.Sessions())

			// Every message arrived; duplicates only among the
			// unconfirmed ones.
			got := map[string]int{}
			for _, m := range srv.Messages() {
				got[string(m)]++
			}
			dups := 0
			for _, m := range batch {
				require.GreaterOrEqual(t, got[string(m)], 1, "%s lost", m)
				dups += got[string(m)] - 1
			}
			assert.Len(t, got, len(batch))
			assert.LessOrEqual(t, dups, total.Unconfirmed, "duplicates are never more than the unconfirmed messages")
			if c.kept {
				assert.Positive(t, dups, "the message the server kept without answering is duplicated")
			}
		})
	}
}

func TestRELPRefusedMessagesAreReportedAndTheRestDelivered(t *testing.T) {
	srv := relptest.Start(t, relptest.Options{Decide: func(n int, _ []byte) relptest.Action {
		if n == 3 || n == 5 {
			return relptest.Refuse
		}
		return relptest.Accept
	}})
	s := newRELP(t, RELPConfig{Address: srv.Addr()})
	batch := numberedMsgs(0, 10)
	delivered := make([]bool, len(batch))
	res, err := s.Send(context.Background(), batch, delivered)
	require.Error(t, err)
	assert.ErrorContains(t, err, "the server refused 2 of 10 messages")
	assert.ErrorContains(t, err, `message 3: the RELP server answered "500 refused by test"`)
	var refused *RELPRefusedError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, RELPResult{Delivered: 8, Refused: 2}, res)
	assert.Equal(t, []bool{true, true, true, false, true, false, true, true, true, true}, delivered)

	// Many refusals: the error names the first three.
	all := relptest.Start(t, relptest.Options{Decide: func(int, []byte) relptest.Action { return relptest.Refuse }})
	s2 := newRELP(t, RELPConfig{Address: all.Addr()})
	_, err = s2.Send(context.Background(), batch, make([]bool, len(batch)))
	assert.ErrorContains(t, err, "the server refused 10 of 10 messages (and 7 more)")
	assert.Equal(t, 3, strings.Count(err.Error(), "500 refused by test"))

	// The session stays: the retry of the two goes over it.
	_, err = s.Send(context.Background(), [][]byte{batch[3], batch[5]}, make([]bool, 2))
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Sessions())
	assert.Len(t, srv.Messages(), 10)
}

func TestRELPHungServerTimesOut(t *testing.T) {
	hangFrom := func(k int) relptest.Options {
		return relptest.Options{Decide: func(n int, _ []byte) relptest.Action {
			if n >= k {
				return relptest.Hang
			}
			return relptest.Accept
		}}
	}
	srv := relptest.Start(t, hangFrom(20))
	s := newRELP(t, RELPConfig{Address: srv.Addr(), Window: 16, ResponseTimeout: 300 * time.Millisecond})
	batch := numberedMsgs(0, 100)
	delivered := make([]bool, len(batch))
	res, err := s.Send(context.Background(), batch, delivered)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Equal(t, 20, res.Delivered)
	assert.Equal(t, 16, res.Unconfirmed, "a full window was waiting")
	assert.Equal(t, 20, countTrue(delivered))

	// The context's deadline, when earlier, ends the wait too, and so
	// does cancelling it.
	srv = relptest.Start(t, hangFrom(0))
	s2 := newRELP(t, RELPConfig{Address: srv.Addr(), ResponseTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s2.Send(ctx, batch, delivered)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	s3 := newRELP(t, RELPConfig{Address: srv.Addr(), ResponseTimeout: time.Hour})
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = s3.Send(ctx, batch, delivered)
	assert.ErrorIs(t, err, context.Canceled)
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestRELPServerCloseBetweenBatchesIsNoError(t *testing.T) {
	srv := relptest.Start(t, relptest.Options{})
	s := newRELP(t, RELPConfig{Address: srv.Addr()})
	_, err := s.Send(context.Background(), numberedMsgs(0, 5), make([]bool, 5))
	require.NoError(t, err)
	// The server ends every session (as rsyslog does when it stops), with
	// or without a serverclose hint.
	srv.Close()
	srv2 := relptest.Start(t, relptest.Options{})
	s.cfg.Address = srv2.Addr()
	_, err = s.Send(context.Background(), numberedMsgs(5, 10), make([]bool, 5))
	require.NoError(t, err, "an idle session the server ended is replaced before sending")
	assert.Equal(t, strs(numberedMsgs(5, 10)), strs(srv2.Messages()))
}

func TestRELPOpenFailures(t *testing.T) {
	cases := []struct{ name, answer, want string }{
		{"refused", "500 too many sessions", `the server refused the session: "500 too many sessions"`},
		{"no syslog command", "200 OK\nrelp_version=0\ncommands=eventlog", "the server does not offer the syslog command (commands=eventlog)"},
		{"no version", "200 OK\ncommands=syslog", "no relp_version offer"},
		{"newer version", "200 OK\nrelp_version=1\ncommands=syslog", "the server speaks relp_version 1, this client 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := relptest.Start(t, relptest.Options{OpenAnswer: c.answer})
			s := newRELP(t, RELPConfig{Address: srv.Addr()})
			_, err := s.Send(context.Background(), numberedMsgs(0, 1), make([]bool, 1))
			require.Error(t, err)
			assert.ErrorContains(t, err, c.want)
			assert.Empty(t, srv.Messages())
			// The failure backs off like a failed connect.
			_, err = s.Send(context.Background(), numberedMsgs(0, 1), make([]bool, 1))
			assert.ErrorContains(t, err, "not reconnecting for another")
		})
	}
}

// hostileServer answers the open properly, then writes reply to the
// first syslog command and closes the connection.
func hostileServer(t *testing.T, reply string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil { // open (its offers hold no LF before the last)
			return
		}
		_, _ = r.ReadString('\n')
		_, _ = r.ReadString('\n')
		offers := "200 OK\nrelp_version=0\ncommands=syslog,other"
		_, _ = fmt.Fprintf(c, "1 rsp %d %s\n", len(offers), offers)
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		_, _ = c.Write([]byte(reply))
	}()
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	return l.Addr().String()
}

func TestRELPHostileAnswers(t *testing.T) {
	cases := []struct{ name, reply, want string }{
		{"huge data length", "2 rsp 999999999 200 OK\n", "announces 999999999 octets"},
		{"txnr too long", "1234567890 rsp 6 200 OK\n", "bad transaction number"},
		{"unknown txnr", "77 rsp 6 200 OK\n", "answer to transaction 77, which is not waiting for one"},
		{"a command from the server", "2 syslog 2 hi\n", `the server sent command "syslog"`},
		{"no trailer", "2 rsp 6 200 OKX", "does not end with LF"},
		{"bad command", "2 r$p 6 200 OK\n", "bad command"},
		{"length too short", "2 rsp 3 200 OK\n", "does not end with LF"},
		{"truncated", "2 rsp 6 20", "EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newRELP(t, RELPConfig{Address: hostileServer(t, c.reply), ResponseTimeout: 5 * time.Second})
			delivered := make([]bool, 1)
			res, err := s.Send(context.Background(), numberedMsgs(0, 1), delivered)
			require.Error(t, err)
			assert.ErrorContains(t, err, c.want)
			assert.Equal(t, RELPResult{Unconfirmed: 1}, res)
			assert.False(t, delivered[0])
			_ = s.Close()
		})
	}
}

func TestRELPOverTLS(t *testing.T) {
	files := syslogtest.NewTLSFiles(t)
	serverCert, err := tls.LoadX509KeyPair(files.ServerCertFile, files.ServerKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(files.CAFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	srv := relptest.Start(t, relptest.Options{TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}})
	clientCert, err := tls.LoadX509KeyPair(files.ClientCertFile, files.ClientKey)
	require.NoError(t, err)

	s := newRELP(t, RELPConfig{Address: srv.Addr(), TLSConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12,
	}})
	batch := numberedMsgs(0, 300)
	_, err = s.Send(context.Background(), batch, make([]bool, len(batch)))
	require.NoError(t, err)
	assert.Equal(t, strs(batch), strs(srv.Messages()))

	// A server certificate the client does not trust: no session.
	bad := newRELP(t, RELPConfig{Address: srv.Addr(), TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}})
	_, err = bad.Send(context.Background(), batch[:1], make([]bool, 1))
	var unknownAuthority x509.UnknownAuthorityError
	assert.True(t, errors.As(err, &unknownAuthority), "%v", err)
}

func TestRELPFrameFormat(t *testing.T) {
	assert.Equal(t, "1 open 3 abc\n", string(appendRELPFrame(nil, 1, "open", []byte("abc"))))
	assert.Equal(t, "999999999 close 0\n", string(appendRELPFrame(nil, 999999999, "close", nil)))
	assert.Equal(t, 1, nextTxnr(999_999_999), "the transaction number wraps to 1, never 0 (hints)")
	assert.True(t, isOK([]byte("200 OK")))
	assert.True(t, isOK([]byte("200")))
	assert.False(t, isOK([]byte("2000")))
	assert.False(t, isOK([]byte("500 OK")))
	assert.True(t, strings.HasPrefix(string(openOffers), "relp_version=0\n"))
}

func TestNewRELPRejects(t *testing.T) {
	_, err := NewRELP(RELPConfig{})
	assert.Error(t, err)
	_, err = NewRELP(RELPConfig{Address: "x:1", Window: -1})
	assert.Error(t, err)
}
