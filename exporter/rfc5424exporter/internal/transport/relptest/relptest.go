// Package relptest is an in-process RELP server for tests: it speaks the
// protocol as librelp's server does (an open answered with its offers,
// each syslog command answered "200 OK" in order, close answered and the
// connection closed, a "serverclose" hint before the server ends a
// session), records what it accepted, and can misbehave on request: refuse
// a message, drop the connection before or after taking one, stop
// answering, announce serverclose, answer garbage.
package relptest // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport/relptest"

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Action is what the server does with one syslog message.
type Action int

const (
	// Accept keeps the message and answers "200 OK".
	Accept Action = iota
	// Refuse answers "500 refused by test" and does not keep it.
	Refuse
	// CrashAfter keeps the message and closes the connection without
	// answering: the client cannot know the server has it.
	CrashAfter
	// CrashBefore closes the connection without keeping or answering it.
	CrashBefore
	// ServerClose sends the serverclose hint instead of an answer and
	// closes the connection, without keeping the message.
	ServerClose
	// Hang keeps the connection open and never answers this message or
	// any later one of the session.
	Hang
	// Garbage answers with bytes that are not a RELP frame.
	Garbage
)

// Options configure a Server. The zero value accepts everything over
// plain TCP.
type Options struct {
	// Decide says what to do with the n-th syslog message the server
	// received (0-based, over all sessions, duplicates included). nil
	// accepts everything.
	Decide func(n int, msg []byte) Action
	// OpenAnswer replaces the open command's answer (for example "500
	// busy", or offers without commands=syslog).
	OpenAnswer string
	// TLS, when set, makes the server speak TLS.
	TLS *tls.Config
	// HoldAnswers makes the server answer as late as the client allows:
	// it answers only when Window messages are unanswered or when the
	// client has sent nothing for a moment. MaxUnanswered then shows
	// whether the client kept to its window.
	HoldAnswers bool
	Window      int
	// Discard answers without keeping the messages (benchmarks).
	Discard bool
}

// Server is a running RELP server on 127.0.0.1.
type Server struct {
	t    testing.TB
	l    net.Listener
	opts Options

	mu            sync.Mutex
	received      int
	msgs          [][]byte
	sessions      int
	opens         []string
	closes        int
	maxUnanswered int
	conns         map[net.Conn]struct{}
	wg            sync.WaitGroup
	closed        bool
}

// Start starts a server, closed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS != nil {
		l = tls.NewListener(l, opts.TLS)
	}
	s := &Server{t: t, l: l, opts: opts, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.l.Addr().String() }

// Messages returns the messages kept so far, in order, duplicates included.
func (s *Server) Messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs...)
}

// Sessions counts the connections accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Opens returns the data of every open command received.
func (s *Server) Opens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.opens...)
}

// Closes counts the close commands received.
func (s *Server) Closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// MaxUnanswered is the most syslog messages the server ever held
// unanswered in one session (with HoldAnswers).
func (s *Server) MaxUnanswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxUnanswered
}

// WaitForMessages waits until n messages were kept (10 s at most).
func (s *Server) WaitForMessages(n int) [][]byte {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.Messages()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close stops the server and ends every session.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.l.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.sessions++
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

var ok200 = []byte("200 OK")

type frame struct {
	txnr int
	cmd  string
	data []byte
}

// serve runs one session until the client closes it or the server
// decides to end it.
func (s *Server) serve(c net.Conn) {
	r := bufio.NewReader(c)
	fr := &frameReader{r: r}
	w := bufio.NewWriter(c)
	var held []int // transaction numbers answered later (HoldAnswers)
	flushHeld := func() error {
		for _, t := range held {
			writeFrame(w, t, "rsp", ok200)
		}
		held = held[:0]
		return w.Flush()
	}
	hung := false
	for {
		if s.opts.HoldAnswers && len(held) > 0 {
			// Wait a moment for more: answer when the client stops.
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		} else {
			_ = c.SetReadDeadline(time.Time{})
		}
		f, err := fr.read(!s.opts.Discard)
		if ne, ok := err.(net.Error); ok && ne.Timeout() && !hung {
			if flushHeld() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		switch f.cmd {
		case "open":
			s.mu.Lock()
			s.opens = append(s.opens, string(f.data))
			s.mu.Unlock()
			answer := s.opts.OpenAnswer
			if answer == "" {
				answer = "200 OK\nrelp_version=0\nrelp_software=relptest\ncommands=syslog"
			}
			writeFrame(w, f.txnr, "rsp", []byte(answer))
		case "close":
			s.mu.Lock()
			s.closes++
			s.mu.Unlock()
			writeFrame(w, f.txnr, "rsp", ok200)
			_ = flushHeld()
			return
		case "syslog":
			if hung {
				continue
			}
			s.mu.Lock()
			n := s.received
			s.received++
			s.mu.Unlock()
			action := Accept
			if s.opts.Decide != nil {
				action = s.opts.Decide(n, f.data)
			}
			if !s.opts.Discard && (action == Accept || action == CrashAfter || action == Hang) {
				s.mu.Lock()
				s.msgs = append(s.msgs, f.data)
				s.mu.Unlock()
			}
			switch action {
			case Accept:
				if s.opts.HoldAnswers {
					held = append(held, f.txnr)
					s.mu.Lock()
					s.maxUnanswered = max(s.maxUnanswered, len(held))
					s.mu.Unlock()
					if len(held) >= s.opts.Window {
						if flushHeld() != nil {
							return
						}
					}
					continue
				}
				writeFrame(w, f.txnr, "rsp", ok200)
			case Refuse:
				writeFrame(w, f.txnr, "rsp", []byte("500 refused by test"))
			case CrashAfter, CrashBefore:
				_ = w.Flush()
				return
			case ServerClose:
				writeFrame(w, 0, "serverclose", nil)
				_ = w.Flush()
				return
			case Hang:
				_ = w.Flush()
				hung = true
				continue
			case Garbage:
				_, _ = w.WriteString("this is not relp\n")
			}
		default:
			writeFrame(w, f.txnr, "rsp", []byte("500 unknown command"))
		}
		// Answer in batches, as librelp does: flush once nothing more is
		// buffered from the client.
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func writeFrame(w *bufio.Writer, txnr int, cmd string, data []byte) {
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(txnr), 10))
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(cmd)
	_ = w.WriteByte(' ')
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(data)), 10))
	if len(data) > 0 {
		_ = w.WriteByte(' ')
		_, _ = w.Write(data)
	}
	_ = w.WriteByte('\n')
}

// frameReader reads "TXNR SP COMMAND SP DATALEN [SP DATA] LF", reusing
// its buffers (the data of a frame is valid until the next read unless
// copied).
type frameReader struct {
	r    *bufio.Reader
	head [3][]byte
	data []byte
}

func (fr *frameReader) read(keep bool) (frame, error) {
	var f frame
	for i := range fr.head {
		fr.head[i] = fr.head[i][:0]
	}
	for n := 0; n < 3; {
		c, err := fr.r.ReadByte()
		if err != nil {
			return f, err
		}
		if c == ' ' || (c == '\n' && n == 2) {
			n++
			if c == '\n' {
				break
			}
			continue
		}
		if len(fr.head[n]) > 32 {
			return f, fmt.Errorf("relptest: header field too long")
		}
		fr.head[n] = append(fr.head[n], c)
	}
	txnr, ok := atoi(fr.head[0])
	if !ok {
		return f, fmt.Errorf("relptest: txnr %q", fr.head[0])
	}
	size, ok := atoi(fr.head[2])
	if !ok || size > 1<<20 {
		return f, fmt.Errorf("relptest: datalen %q", fr.head[2])
	}
	f.txnr = txnr
	switch string(fr.head[1]) { // no allocation for the known commands
	case "open":
		f.cmd = "open"
	case "syslog":
		f.cmd = "syslog"
	case "close":
		f.cmd = "close"
	default:
		f.cmd = string(fr.head[1])
	}
	if size > 0 {
		if keep {
			f.data = make([]byte, size)
		} else {
			if cap(fr.data) < size {
				fr.data = make([]byte, size)
			}
			f.data = fr.data[:size]
		}
		if _, err := io.ReadFull(fr.r, f.data); err != nil {
			return f, err
		}
		if c, err := fr.r.ReadByte(); err != nil || c != '\n' {
			return f, fmt.Errorf("relptest: frame %d has no trailer", txnr)
		}
	}
	return f, nil
}

// atoi reads 1 to 9 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = 10*v + int(c-'0')
	}
	return v, true
}
