package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
)

// readSize is the read buffer of a stream connection: about 300 CTReplay
// events, which become one pipeline call.
const readSize = 64 << 10

// streamListener accepts tcp, tls or unix stream connections.
type streamListener struct {
	r         *syslogReceiver
	transport string
	ln        net.Listener
	framing   frame.Framing
	obs       *receiverhelper.ObsReport
	path      string // unix socket file to remove at shutdown

	mu    sync.Mutex
	conns map[*streamConn]struct{}
	// Rate limit of warnHandshake.
	lastHandshakeWarn     time.Time
	handshakeWarnsSkipped int
}

// streamConn is one connection; mu guards the deadline so that the idle
// timeout never overrides a drain deadline set by Shutdown.
type streamConn struct {
	net.Conn
	mu       sync.Mutex
	draining bool
}

// closeWriter is a connection whose sending half can be closed alone.
type closeWriter interface{ CloseWrite() error }

// drain asks the sender to close (FIN, or a TLS close_notify) and bounds
// the time left to read what it sends before closing.
func (c *streamConn) drain(timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return
	}
	c.draining = true
	if cw, ok := c.Conn.(closeWriter); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
}

func (c *streamConn) idleDeadline(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.draining {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
}

func (r *syslogReceiver) startStream(ctx context.Context, transport, endpoint, framing string, tlsCfg *tls.Config, mode string) error {
	f, err := frame.ParseFraming(framing)
	if err != nil {
		return err
	}
	obs, err := r.newObsReport(transport)
	if err != nil {
		return err
	}
	l := &streamListener{r: r, transport: transport, framing: f, obs: obs, conns: map[*streamConn]struct{}{}}
	var lc net.ListenConfig
	if transport == "unix" {
		if err := removeStaleSocket(endpoint); err != nil {
			return fmt.Errorf("unix::endpoint: %w", err)
		}
		l.ln, err = lc.Listen(ctx, "unix", endpoint)
		if err != nil {
			return fmt.Errorf("unix::endpoint: %w", err)
		}
		l.path = endpoint
		l.ln.(*net.UnixListener).SetUnlinkOnClose(false) // cleanup removes it after draining
		m, _ := parseMode(mode)
		if err := os.Chmod(endpoint, fs.FileMode(m)); err != nil {
			l.ln.Close()
			return fmt.Errorf("unix::socket_mode: %w", err)
		}
	} else {
		l.ln, err = lc.Listen(ctx, "tcp", endpoint)
		if err != nil {
			return fmt.Errorf("%s::endpoint: %w", transport, err)
		}
		if tlsCfg != nil {
			l.ln = tls.NewListener(l.ln, tlsCfg)
		}
	}
	r.set.Logger.Info("Listening for CTReplay syslog", zap.String("transport", transport), zap.String("endpoint", l.ln.Addr().String()), zap.String("framing", f.String()))
	r.streams = append(r.streams, l)
	r.wg.Add(1)
	go l.accept()
	return nil
}

// removeStaleSocket removes a socket file left by an earlier run; any
// other kind of file at path is an error.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSocket == 0:
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	return os.Remove(path)
}

func (l *streamListener) accept() {
	defer l.r.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.r.stopping:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.r.set.Logger.Warn("Accepting a connection failed", zap.String("transport", l.transport), zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		sc := &streamConn{Conn: c}
		l.mu.Lock()
		full := len(l.conns) >= l.r.cfg.MaxConnections
		if !full {
			l.conns[sc] = struct{}{}
			l.r.wg.Add(1)
		}
		l.mu.Unlock()
		if full {
			l.r.tb.ReceiverAuditsyslogRefusedConnections.Add(context.Background(), 1,
				metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", l.r.set.ID.String()), attribute.String("transport", l.transport))))
			l.r.set.Logger.Warn("Connection refused: max_connections are open", zap.String("transport", l.transport),
				zap.Int("max_connections", l.r.cfg.MaxConnections), zap.Stringer("remote", c.RemoteAddr()))
			c.Close()
			continue
		}
		go l.serve(sc)
	}
}

// serve reads a connection to its end. Each read's complete messages
// become one pipeline call, made before the next read: while the pipeline
// refuses, nothing more is read and TCP's flow control stops the sender.
func (l *streamListener) serve(c *streamConn) {
	r := l.r
	defer r.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	select {
	case <-r.stopping:
		c.drain(r.cfg.DrainTimeout)
	default:
	}
	sp := frame.NewSplitter(l.framing, r.cfg.MaxMessageSize)
	buf := make([]byte, 0, readSize)
	for {
		c.idleDeadline(r.cfg.IdleTimeout)
		if cap(buf)-len(buf) < readSize/4 {
			nb := make([]byte, len(buf), max(2*cap(buf), len(buf)+readSize))
			copy(nb, buf)
			buf = nb
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		atEOF := false
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.isDraining() {
				// Idle: ask the sender to close, and read what it still sends.
				r.set.Logger.Debug("Closing an idle connection", zap.String("transport", l.transport), zap.Stringer("remote", c.RemoteAddr()))
				c.drain(r.cfg.DrainTimeout)
				if n == 0 {
					continue
				}
			} else {
				atEOF = true
				var rhe tls.RecordHeaderError
				switch {
				case errors.As(err, &rhe):
					l.warnHandshake(c, err)
				case !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) && !c.isDraining():
					r.set.Logger.Debug("Connection ended", zap.String("transport", l.transport), zap.Error(err))
				}
			}
		}
		b := r.newBatch()
		now := pcommon.NewTimestampFromTime(time.Now())
		used := sp.Split(buf, atEOF, func(m frame.Message) { r.add(b, m, now) })
		r.deliver(l.obs, l.transport, b)
		rest := copy(buf, buf[used:])
		buf = buf[:rest]
		if len(buf) == 0 && cap(buf) > 4*readSize {
			buf = make([]byte, 0, readSize) // a long message passed: free its room
		}
		if atEOF {
			return
		}
	}
}

// warnHandshake logs a sender that speaks plain text to the TLS listener,
// at most once a minute: winston-syslog 2.7's tls4 does so on every
// reconnect (it reconnects its TLS socket as a plain TCP socket), and its
// events are lost until CTReplay restarts.
func (l *streamListener) warnHandshake(c *streamConn, err error) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastHandshakeWarn) < time.Minute {
		l.handshakeWarnsSkipped++
		l.mu.Unlock()
		return
	}
	skipped := l.handshakeWarnsSkipped
	l.lastHandshakeWarn, l.handshakeWarnsSkipped = now, 0
	l.mu.Unlock()
	l.r.set.Logger.Warn("A sender wrote plain text to the TLS listener; its connection is refused. winston-syslog (tls4) does this on every reconnect after its TLS connection closed: restart CTReplay to get TLS back, or use tcp4",
		zap.Stringer("remote", c.RemoteAddr()), zap.Int("similar_since_last_warning", skipped), zap.Error(err))
}

func (c *streamConn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// stop closes the listener and asks every connection to close.
func (l *streamListener) stop() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.drain(l.r.cfg.DrainTimeout)
	}
}

// closeAll closes every connection now (Shutdown's context ended).
func (l *streamListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
}

func (l *streamListener) cleanup() {
	if l.path != "" {
		_ = os.Remove(l.path)
	}
}
