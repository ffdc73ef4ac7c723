package sink

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/otelcol-audit/otelcol-audit/internal/loadtest/eventid"
)

// MaxMessage is the largest frame the sink accepts. A collector that
// batches many events into one syslog message would trip it, and should.
const MaxMessage = 1 << 20

// Stats counts what arrived, over the sink's lifetime.
type Stats struct {
	Connections uint64 `json:"connections"`
	Messages    uint64 `json:"messages"`
	// Checked counts messages given to the RFC 5424 parser, NotRFC5424 those
	// it refused.
	Checked    uint64 `json:"checked"`
	NotRFC5424 uint64 `json:"not_rfc5424"`
	// FramingErrors counts bad, oversized or truncated frames.
	FramingErrors uint64 `json:"framing_errors"`
	// FirstProblem is the first parse or framing error, as an example.
	FirstProblem string `json:"first_problem,omitempty"`
}

// Sink is a TCP syslog server that records the events it receives in a set.
type Sink struct {
	ln         net.Listener
	scheme     eventid.Scheme
	events     *eventid.Set
	checkEvery uint64

	connections, messages, checked, notRFC5424, framingErrors atomic.Uint64
	firstProblem                                              atomic.Pointer[string]

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a sink on addr (use 127.0.0.1:0) that adds the ids of
// scheme it finds in each message to events and checks every checkEvery-th
// message of a connection (its first included) against RFC 5424. Parsing
// costs about 10 us of CPU a message, on the cores being measured, so a
// load run samples; 1 checks every message.
func Listen(addr string, scheme eventid.Scheme, events *eventid.Set, checkEvery int) (*Sink, error) {
	if checkEvery < 1 {
		return nil, fmt.Errorf("checkEvery must be at least 1, got %d", checkEvery)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, scheme: scheme, events: events, checkEvery: uint64(checkEvery), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Stats returns the counts so far.
func (s *Sink) Stats() Stats {
	st := Stats{
		Connections:   s.connections.Load(),
		Messages:      s.messages.Load(),
		Checked:       s.checked.Load(),
		NotRFC5424:    s.notRFC5424.Load(),
		FramingErrors: s.framingErrors.Load(),
	}
	if p := s.firstProblem.Load(); p != nil {
		st.FirstProblem = *p
	}
	return st
}

// Close stops listening, closes every connection and waits for the
// readers to finish.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.connections.Add(1)
		go s.read(c)
	}
}

func (s *Sink) read(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	frames := NewFrameReader(c, MaxMessage)
	parser := rfc5424.NewParser()
	var seqs []uint64
	for n := uint64(0); ; n++ {
		msg, err := frames.Next()
		switch {
		case err == nil:
		case errors.Is(err, ErrBadFrame):
			s.problem(&s.framingErrors, err)
			continue
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return
		default:
			s.problem(&s.framingErrors, err)
			return
		}
		s.messages.Add(1)
		if n%s.checkEvery == 0 {
			s.checked.Add(1)
			if _, perr := parser.Parse(msg); perr != nil {
				s.problem(&s.notRFC5424, perr)
			}
		}
		seqs = seqs[:0]
		s.scheme.Scan(msg, func(seq uint64) { seqs = append(seqs, seq) })
		s.events.AddAll(seqs)
	}
}

func (s *Sink) problem(counter *atomic.Uint64, err error) {
	counter.Add(1)
	msg := err.Error()
	s.firstProblem.CompareAndSwap(nil, &msg)
}
