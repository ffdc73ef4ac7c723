// Package transport delivers formatted syslog messages over one long-lived
// connection: TCP, TLS and unix stream sockets with RFC 6587 framing, UDP
// and unix datagram sockets one message per datagram.
//
// The connection is opened lazily, on the first send, so a collector starts
// while its SIEM is down. A connection the peer has closed is noticed before
// the next write (syslog receivers never send, so anything readable means
// the end of the connection) and replaced. Failed dials back off
// exponentially; while backing off, Send fails at once with the last dial
// error, so the exporterhelper queue and retry decide when to try again.
package transport // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Network names, as net.Dial spells them, plus "tls".
const (
	TCP      = "tcp"
	UDP      = "udp"
	TLS      = "tls"
	Unix     = "unix"
	Unixgram = "unixgram"
)

// Framing of stream transports (RFC 6587 section 3.4).
const (
	OctetCounting  = "octet_counting"
	NonTransparent = "non_transparent"
)

// Stream reports whether network is a stream transport, which needs framing.
func Stream(network string) bool {
	return network == TCP || network == TLS || network == Unix
}

// Backoff bounds for reconnecting after a failed dial.
const (
	initialDialBackoff = 100 * time.Millisecond
	maxDialBackoff     = 10 * time.Second
	// defaultWriteTimeout bounds a write when the context has no deadline.
	defaultWriteTimeout = 30 * time.Second
)

// Config says where and how to send.
type Config struct {
	Network string // TCP, UDP, TLS, Unix or Unixgram
	Address string // host:port, or a socket path
	Framing string // OctetCounting or NonTransparent; ignored for datagrams
	// TLSConfig is used when Network is TLS. When its ServerName is empty,
	// the host of Address is verified.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting when the context has no earlier deadline.
	DialTimeout time.Duration
}

// Sender writes messages to one peer. It is safe for concurrent use; sends
// are serialized so frames never interleave.
type Sender struct {
	cfg Config

	mu      sync.Mutex
	conn    net.Conn
	backoff dialBackoff
	now     func() time.Time
	// frameBuf holds the frames of one Write; frameEnds the end of each.
	frameBuf  []byte
	frameEnds []int
}

// New returns a Sender; it does not connect.
func New(cfg Config) (*Sender, error) {
	switch cfg.Network {
	case TCP, UDP, TLS, Unix, Unixgram:
	default:
		return nil, fmt.Errorf("unknown transport %q", cfg.Network)
	}
	if Stream(cfg.Network) && cfg.Framing != OctetCounting && cfg.Framing != NonTransparent {
		return nil, fmt.Errorf("unknown framing %q", cfg.Framing)
	}
	if cfg.Network == TLS && cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &Sender{cfg: cfg, now: time.Now}, nil
}

// ErrPeerClosed means the receiver closed the connection.
var ErrPeerClosed = errors.New("the syslog receiver closed the connection")

// writeChunk bounds the frames one Write carries: a batch costs a few
// syscalls instead of one per message, and the buffer stays small.
const writeChunk = 256 << 10

// Send writes msgs in order and returns how many were written whole. On an
// error the connection is dropped, so the next Send reconnects; messages
// from the returned count on were not delivered and may be sent again.
//
// Whether the peer closed the connection is checked once per Send, before
// writing: a batch pays one check, not one per message.
func (s *Sender) Send(ctx context.Context, msgs [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connect(ctx)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(defaultWriteTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	if err := conn.SetWriteDeadline(deadline); err != nil {
		s.drop()
		return 0, err
	}
	if !Stream(s.cfg.Network) {
		for i, m := range msgs {
			if _, err := conn.Write(m); err != nil {
				s.drop()
				return i, s.writeErr(err)
			}
		}
		return len(msgs), nil
	}
	for sent := 0; sent < len(msgs); {
		// Frame as many messages as fit in one chunk (at least one).
		s.frameBuf, s.frameEnds = s.frameBuf[:0], s.frameEnds[:0]
		next := sent
		for next < len(msgs) && (next == sent || len(s.frameBuf)+len(msgs[next])+maxFrameOverhead <= writeChunk) {
			s.frameBuf = s.appendFrame(s.frameBuf, msgs[next])
			s.frameEnds = append(s.frameEnds, len(s.frameBuf))
			next++
		}
		n, err := conn.Write(s.frameBuf)
		if err != nil {
			// Frames wholly inside what was written count as sent; a frame
			// cut in the middle is sent again, whole, on the next
			// connection.
			whole := 0
			for whole < len(s.frameEnds) && s.frameEnds[whole] <= n {
				whole++
			}
			s.drop()
			s.shrink()
			return sent + whole, s.writeErr(err)
		}
		sent = next
	}
	s.shrink()
	return len(msgs), nil
}

// maxFrameOverhead is what framing adds to a message at most: an octet
// count of up to 20 digits and a space, or a trailing LF.
const maxFrameOverhead = 21

// appendFrame appends m with the configured framing (RFC 6587 section 3.4).
func (s *Sender) appendFrame(dst, m []byte) []byte {
	if s.cfg.Framing == OctetCounting {
		dst = strconv.AppendInt(dst, int64(len(m)), 10)
		dst = append(dst, ' ')
		return append(dst, m...)
	}
	dst = append(dst, m...)
	return append(dst, '\n')
}

// shrink lets go of a frame buffer that one huge message grew far past a
// chunk.
func (s *Sender) shrink() {
	if cap(s.frameBuf) > 2*writeChunk {
		s.frameBuf = nil
	}
}

func (s *Sender) writeErr(err error) error {
	return fmt.Errorf("write to %s %s: %w", s.cfg.Network, s.cfg.Address, err)
}

// connect returns the live connection, dialing when there is none.
func (s *Sender) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil {
		if !Stream(s.cfg.Network) || peerClosed(s.conn) == nil {
			return s.conn, nil
		}
		s.drop()
	}
	if err := s.backoff.check(s.now()); err != nil {
		return nil, err
	}
	network, tlsConfig := s.cfg.Network, (*tls.Config)(nil)
	if network == TLS {
		network, tlsConfig = "tcp", s.cfg.TLSConfig
	}
	conn, err := dial(ctx, network, s.cfg.Address, tlsConfig, s.cfg.DialTimeout)
	if err != nil {
		err = fmt.Errorf("connect to %s %s: %w", s.cfg.Network, s.cfg.Address, err)
		s.backoff.failed(s.now(), err)
		return nil, err
	}
	s.backoff.succeeded()
	s.conn = conn
	return conn, nil
}

// dialBackoff spaces out connection attempts after failures: while it
// waits, attempts fail at once with the last error, so the exporterhelper
// queue and retry decide when to try again and a down peer is not
// hammered.
type dialBackoff struct {
	err   error
	next  time.Time
	delay time.Duration
}

func (b *dialBackoff) check(now time.Time) error {
	if now.Before(b.next) {
		return fmt.Errorf("not reconnecting for another %v: %w", b.next.Sub(now).Round(time.Millisecond), b.err)
	}
	return nil
}

func (b *dialBackoff) failed(now time.Time, err error) {
	if b.delay == 0 {
		b.delay = initialDialBackoff
	} else {
		b.delay = min(2*b.delay, maxDialBackoff)
	}
	b.next = now.Add(b.delay)
	b.err = err
}

func (b *dialBackoff) succeeded() { *b = dialBackoff{} }

// dial connects to address over network ("tcp", "udp", "unix",
// "unixgram"), with TLS on top when tlsConfig is not nil, within timeout
// when it is positive.
func dial(ctx context.Context, network, address string, tlsConfig *tls.Config, timeout time.Duration) (net.Conn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if tlsConfig != nil {
		d := tls.Dialer{Config: tlsConfig}
		return d.DialContext(ctx, network, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func (s *Sender) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection, if any.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
