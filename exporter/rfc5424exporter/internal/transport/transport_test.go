package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// streamServer accepts connections on l and collects everything written to
// them, one byte string per connection.
type streamServer struct {
	l     net.Listener
	mu    sync.Mutex
	conns [][]byte
	wg    sync.WaitGroup
	live  []net.Conn
}

func newStreamServer(t *testing.T, l net.Listener) *streamServer {
	s := &streamServer{l: l}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			idx := len(s.conns)
			s.conns = append(s.conns, nil)
			s.live = append(s.live, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					s.mu.Lock()
					s.conns[idx] = append(s.conns[idx], buf[:n]...)
					s.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *streamServer) close() {
	_ = s.l.Close()
	s.mu.Lock()
	for _, c := range s.live {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// closeConns closes every accepted connection from the server's side.
func (s *streamServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.live {
		_ = c.Close()
	}
}

func (s *streamServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.conns))
	for i, c := range s.conns {
		out[i] = string(c)
	}
	return out
}

func (s *streamServer) waitFor(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !assert.ObjectsAreEqual(want, s.received()) {
		if time.Now().After(deadline) {
			require.Equal(t, want, s.received())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func msgs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestStreamFraming(t *testing.T) {
	batch := msgs("<14>1 - - - - - - a\nb", "<14>1 - - - - - - é")
	tests := []struct {
		name, network, framing, want string
	}{
		{"tcp octet counting", TCP, OctetCounting, "21 <14>1 - - - - - - a\nb20 <14>1 - - - - - - é"},
		{"tcp non-transparent", TCP, NonTransparent, "<14>1 - - - - - - a\nb\n<14>1 - - - - - - é\n"},
		{"unix octet counting", Unix, OctetCounting, "21 <14>1 - - - - - - a\nb20 <14>1 - - - - - - é"},
		{"unix non-transparent", Unix, NonTransparent, "<14>1 - - - - - - a\nb\n<14>1 - - - - - - é\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l net.Listener
			var err error
			if tt.network == Unix {
				l, err = net.Listen("unix", filepath.Join(shortDir(t), "s.sock"))
			} else {
				l, err = net.Listen("tcp", "127.0.0.1:0")
			}
			require.NoError(t, err)
			srv := newStreamServer(t, l)
			s, err := New(Config{Network: tt.network, Address: l.Addr().String(), Framing: tt.framing})
			require.NoError(t, err)
			defer s.Close()
			n, err := s.Send(context.Background(), batch)
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			srv.waitFor(t, []string{tt.want})
		})
	}
}

// A batch larger than one write chunk, with a message larger than a chunk
// in the middle, arrives whole and in order on one connection.
func TestBatchLargerThanAWriteChunk(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newStreamServer(t, l)
	s, err := New(Config{Network: TCP, Address: l.Addr().String(), Framing: OctetCounting})
	require.NoError(t, err)
	defer s.Close()

	var batch [][]byte
	var want strings.Builder
	for i := range 2000 {
		m := fmt.Sprintf("<14>1 - - - - - - message %d %s", i, strings.Repeat("x", 200))
		if i == 1000 {
			m += strings.Repeat("y", 2*writeChunk)
		}
		batch = append(batch, []byte(m))
		fmt.Fprintf(&want, "%d %s", len(m), m)
	}
	require.Greater(t, want.Len(), 3*writeChunk, "the batch must span several chunks")
	n, err := s.Send(context.Background(), batch)
	require.NoError(t, err)
	assert.Equal(t, len(batch), n)
	srv.waitFor(t, []string{want.String()})
}

// shortConn is a connection that takes limit bytes and then fails.
type shortConn struct {
	net.Conn // nil: only the methods below are used
	limit    int
	got      []byte
}

func (c *shortConn) Write(b []byte) (int, error) {
	n := min(len(b), c.limit-len(c.got))
	c.got = append(c.got, b[:n]...)
	if n < len(b) {
		return n, syscall.ECONNRESET
	}
	return n, nil
}
func (c *shortConn) SetWriteDeadline(time.Time) error { return nil }
func (c *shortConn) Close() error                     { return nil }

// When a write fails part-way, only the frames written whole count as sent
// (each frame below is "10 " and 10 octets):
// the caller sends the rest again, the cut frame included.
func TestFailedWriteCountsWholeFramesOnly(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit int
		want  int
	}{
		{"fails inside the first frame", 5, 0},
		{"fails at the end of the second frame", 2 * 13, 2},
		{"fails inside the third frame", 2*13 + 3, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Network: TCP, Address: "127.0.0.1:9", Framing: OctetCounting})
			require.NoError(t, err)
			conn := &shortConn{limit: tt.limit}
			s.conn = conn
			n, err := s.Send(context.Background(), msgs("<14>1 - aa", "<14>1 - bb", "<14>1 - cc", "<14>1 - dd"))
			require.ErrorIs(t, err, syscall.ECONNRESET)
			assert.Equal(t, tt.want, n)
			assert.Nil(t, s.conn, "the failed connection is dropped")
		})
	}
}

func TestDatagrams(t *testing.T) {
	for _, network := range []string{UDP, Unixgram} {
		t.Run(network, func(t *testing.T) {
			var pc net.PacketConn
			var err error
			if network == Unixgram {
				pc, err = net.ListenPacket("unixgram", filepath.Join(shortDir(t), "d.sock"))
			} else {
				pc, err = net.ListenPacket("udp", "127.0.0.1:0")
			}
			require.NoError(t, err)
			defer pc.Close()
			s, err := New(Config{Network: network, Address: pc.LocalAddr().String()})
			require.NoError(t, err)
			defer s.Close()
			n, err := s.Send(context.Background(), msgs("<14>1 - - - - - - one\n", "<14>1 - - - - - - two"))
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			buf := make([]byte, 1024)
			for _, want := range []string{"<14>1 - - - - - - one\n", "<14>1 - - - - - - two"} {
				require.NoError(t, pc.SetReadDeadline(time.Now().Add(30*time.Second)))
				n, _, err := pc.ReadFrom(buf)
				require.NoError(t, err)
				assert.Equal(t, want, string(buf[:n]), "one message per datagram, no framing")
			}
		})
	}
}

func TestTLSWithClientCertificate(t *testing.T) {
	files := syslogtest.NewTLSFiles(t)
	serverCert, err := tls.LoadX509KeyPair(files.ServerCertFile, files.ServerKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(files.CAFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	srv := newStreamServer(t, l)

	clientCert, err := tls.LoadX509KeyPair(files.ClientCertFile, files.ClientKey)
	require.NoError(t, err)
	s, err := New(Config{Network: TLS, Address: l.Addr().String(), Framing: OctetCounting,
		TLSConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12}})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - tls"))
	require.NoError(t, err)
	srv.waitFor(t, []string{"21 <14>1 - - - - - - tls"})
}

func TestLazyConnectAndBackoff(t *testing.T) {
	// A port with nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	s, err := New(Config{Network: TCP, Address: addr, Framing: OctetCounting})
	require.NoError(t, err, "creating a sender must not connect")
	defer s.Close()
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }

	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - x"))
	require.ErrorContains(t, err, "connection refused")

	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - x"))
	require.ErrorContains(t, err, "not reconnecting for another 100ms", "a second try within the backoff fails fast")
	require.ErrorContains(t, err, "connection refused", "and says why")

	now = now.Add(100 * time.Millisecond)
	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - x"))
	require.ErrorContains(t, err, "connection refused")
	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - x"))
	require.ErrorContains(t, err, "not reconnecting for another 200ms", "the backoff doubles")

	l, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := newStreamServer(t, l)
	now = now.Add(time.Hour)
	_, err = s.Send(context.Background(), msgs("<14>1 - - - - - - x"))
	require.NoError(t, err)
	srv.waitFor(t, []string{"19 <14>1 - - - - - - x"})
}

func TestPeerCloseDetectedBeforeWriting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newStreamServer(t, l)
	s, err := New(Config{Network: TCP, Address: l.Addr().String(), Framing: NonTransparent})
	require.NoError(t, err)
	defer s.Close()

	_, err = s.Send(context.Background(), msgs("one"))
	require.NoError(t, err)
	srv.waitFor(t, []string{"one\n"})

	// The receiver closes the connection (a restart, an idle timeout).
	srv.closeConns()
	require.Eventually(t, func() bool { return peerClosed(s.conn) != nil }, 30*time.Second, 10*time.Millisecond)

	// The next message must go on a new connection, not into the dead one
	// where the kernel would accept and then lose it.
	_, err = s.Send(context.Background(), msgs("two"))
	require.NoError(t, err)
	srv.waitFor(t, []string{"one\n", "two\n"})
}

func TestWriteDeadlineFromContext(t *testing.T) {
	// A receiver that accepts and never reads: writes must give up at the
	// context's deadline instead of blocking forever.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, aerr := l.Accept()
		if aerr == nil {
			accepted <- c
		}
	}()
	s, err := New(Config{Network: TCP, Address: l.Addr().String(), Framing: OctetCounting})
	require.NoError(t, err)
	defer s.Close()
	big := make([]byte, 1<<20)
	batch := make([][]byte, 64) // far more than the socket buffers hold
	for i := range batch {
		batch[i] = big
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n, err := s.Send(ctx, batch)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, n, len(batch))
	c := <-accepted
	_ = c.Close()
}

func TestNewRejects(t *testing.T) {
	_, err := New(Config{Network: "sctp"})
	assert.ErrorContains(t, err, `unknown transport "sctp"`)
	_, err = New(Config{Network: TCP, Framing: "lines"})
	assert.ErrorContains(t, err, `unknown framing "lines"`)
}

// shortDir is a temporary directory with a path short enough for a unix
// socket (108 bytes), which t.TempDir's may not be.
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "rfc5424")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}
