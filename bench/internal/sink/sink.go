package sink

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// MaxMessage is the largest frame the sink accepts. A collector that
// batches many events into one syslog message would trip it, and should.
const MaxMessage = 1 << 20

// MaxPending bounds the sampled messages kept for Check, in bytes. Past
// it, a sampled message is checked as it arrives, so a long run with
// checkEvery 1 costs CPU during the load rather than unbounded memory.
const MaxPending = 256 << 20

// Stats counts what arrived, over the sink's lifetime.
type Stats struct {
	Connections uint64 `json:"connections"`
	Messages    uint64 `json:"messages"`
	// Sampled counts the messages chosen for the RFC 5424 check; Checked
	// those checked so far (all of them after Check), NotRFC5424 those the
	// parser refused, CheckedLive those checked on arrival because the
	// pending samples had reached MaxPending.
	Sampled     uint64 `json:"sampled"`
	Checked     uint64 `json:"checked"`
	NotRFC5424  uint64 `json:"not_rfc5424"`
	CheckedLive uint64 `json:"checked_live,omitempty"`
	// FramingErrors counts bad, oversized or truncated frames.
	FramingErrors uint64 `json:"framing_errors"`
	// FirstProblem is the first parse or framing error, as an example.
	FirstProblem string `json:"first_problem,omitempty"`
}

// Sink is a TCP syslog server that records the events it receives in a set.
type Sink struct {
	ln         net.Listener
	scheme     loadid.Scheme
	events     *loadid.Set
	checkEvery uint64
	maxPending int // MaxPending; tests lower it

	connections, messages, sampled, checked, notRFC5424, checkedLive, framingErrors atomic.Uint64
	firstProblem                                                                    atomic.Pointer[string]

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// readers keeps frame readers (a 64 KiB buffer each) for the next
	// connections: a sender that connects for every message (contrib's
	// syslog exporter does) would otherwise cost an allocation of 64 KiB
	// per message, on the cores being measured.
	readers sync.Pool

	// pending holds the sampled messages not checked yet, copied into
	// blocks of pendingBlock bytes (growing one slice would copy it all
	// again at every doubling); pendingBytes is their total size.
	pendingMu    sync.Mutex
	pending      [][]byte
	block        []byte
	pendingBytes int
	parser       syslog.Machine // used under pendingMu
}

// Listen starts a sink on addr (use 127.0.0.1:0) that adds the ids of
// scheme it finds in each message to events and samples every
// checkEvery-th message of a connection (its first included) for the
// RFC 5424 check (1 samples every message). Parsing costs about 10 us of
// CPU a message, on the cores being measured, so the sink only copies a
// sample as it arrives and Check parses them when the measuring is over.
func Listen(addr string, scheme loadid.Scheme, events *loadid.Set, checkEvery int) (*Sink, error) {
	if checkEvery < 1 {
		return nil, fmt.Errorf("checkEvery must be at least 1, got %d", checkEvery)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		ln: ln, scheme: scheme, events: events, checkEvery: uint64(checkEvery),
		maxPending: MaxPending, conns: map[net.Conn]struct{}{}, parser: rfc5424.NewParser(),
	}
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
		Sampled:       s.sampled.Load(),
		Checked:       s.checked.Load(),
		NotRFC5424:    s.notRFC5424.Load(),
		CheckedLive:   s.checkedLive.Load(),
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
	frames, _ := s.readers.Get().(*FrameReader)
	if frames == nil {
		frames = NewFrameReader(c, MaxMessage)
	} else {
		frames.Reset(c)
	}
	defer func() {
		frames.Reset(nil)
		s.readers.Put(frames)
	}()
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
			s.sample(msg)
		}
		seqs = seqs[:0]
		s.scheme.Scan(msg, func(seq uint64) { seqs = append(seqs, seq) })
		s.events.AddAll(seqs)
	}
}

// sample keeps a copy of msg for Check, or checks it at once when
// MaxPending bytes are already waiting.
func (s *Sink) sample(msg []byte) {
	s.sampled.Add(1)
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if s.pendingBytes+len(msg) > s.maxPending {
		s.checkedLive.Add(1)
		s.checkLocked(msg)
		return
	}
	if len(s.block)+len(msg) > cap(s.block) {
		s.block = make([]byte, 0, max(pendingBlock, len(msg)))
	}
	start := len(s.block)
	s.block = append(s.block, msg...)
	s.pending = append(s.pending, s.block[start:len(s.block):len(s.block)])
	s.pendingBytes += len(msg)
}

// pendingBlock is the size of the blocks sampled messages are copied into.
const pendingBlock = 1 << 20

// Check parses every sampled message not checked yet against RFC 5424
// (strict: go-syslog's parser without best effort) and counts those it
// refuses. Call it when the load is over: it takes about 10 us a message.
func (s *Sink) Check() {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	for _, msg := range s.pending {
		s.checkLocked(msg)
	}
	s.pending, s.block, s.pendingBytes = nil, nil, 0
}

func (s *Sink) checkLocked(msg []byte) {
	s.checked.Add(1)
	if _, err := s.parser.Parse(msg); err != nil {
		s.problem(&s.notRFC5424, err)
	}
}

func (s *Sink) problem(counter *atomic.Uint64, err error) {
	counter.Add(1)
	msg := err.Error()
	s.firstProblem.CompareAndSwap(nil, &msg)
}
