package transport

// A RELP client (Reliable Event Logging Protocol, rsyslog's librelp; the
// specification is librelp's doc/relp.md, "RELP - The Reliable Event
// Logging Protocol" by Rainer Gerhards).
//
// Written here because no maintained Go RELP client exists: the few Go
// packages found (stith/gorelp, teragrep/rlp_05, thierry-f-78/go-relp) are
// servers, or clients that send one batch and wait, without a window, and
// none is in this build's module mirror. The protocol is small: frames
// "TXNR SP COMMAND SP DATALEN [SP DATA] LF", one "open" to start a
// session, one "syslog" command per message, each answered by an "rsp"
// frame carrying the same TXNR.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RELP is the RELP transport's name.
const RELP = "relp"

// Defaults of RELPConfig.
const (
	// DefaultRELPWindow is librelp's own default (RELP_DFLT_WINDOW_SIZE):
	// rsyslog's omrelp sends with it.
	DefaultRELPWindow = 128
	// DefaultRELPResponseTimeout is how long a session may wait for the
	// next answer before it counts as broken.
	DefaultRELPResponseTimeout = 10 * time.Second
)

const (
	// relpVersion is the protocol version offered: 0 is what librelp and
	// rsyslog speak (RELP_CURR_PROTOCOL_VERSION).
	relpVersion  = 0
	relpSoftware = "otelcol-audit,rfc5424exporter"
	// maxTxnr is the largest transaction number; the next one is 1.
	maxTxnr = 999_999_999
	// maxRELPAnswer bounds the data of a frame the server sends (an rsp or
	// a hint). Answers are a status line and, for open, a few offers; a
	// larger DATALEN is a broken or hostile server, not a reason to
	// allocate.
	maxRELPAnswer = 64 << 10
	// relpCloseTimeout bounds waiting for the answer to "close" on
	// shutdown.
	relpCloseTimeout = 2 * time.Second
	// maxRELPFrameOverhead is what the header and trailer add to a
	// message at most: 9 digits, SP, "syslog", SP, 9 digits, SP, LF.
	maxRELPFrameOverhead = 9 + 1 + 6 + 1 + 9 + 1 + 1
)

// RELPConfig says where and how to send over RELP.
type RELPConfig struct {
	Address string // host:port
	// TLSConfig, when not nil, wraps the session in TLS (as rsyslog's
	// imrelp tls="on" expects). When its ServerName is empty, the host of
	// Address is verified.
	TLSConfig *tls.Config
	// Window is how many messages may be sent before their answers
	// arrive; 0 means DefaultRELPWindow.
	Window int
	// ResponseTimeout is how long to wait for the next answer while
	// answers are due; 0 means DefaultRELPResponseTimeout. The context's
	// deadline, when earlier, wins.
	ResponseTimeout time.Duration
	// DialTimeout bounds connecting when the context has no earlier
	// deadline.
	DialTimeout time.Duration
}

// RELPSender sends syslog messages over one RELP session at a time. A
// message counts as delivered only when the server answered its command
// with status 200. It is safe for concurrent use; sends are serialized.
type RELPSender struct {
	cfg RELPConfig
	now func() time.Time

	mu       sync.Mutex
	conn     net.Conn
	r        *bufio.Reader
	txnr     int // the last transaction number used in this session
	backoff  dialBackoff
	wbuf     []byte
	inflight []relpPending
	data     []byte // the data of the last frame read
}

// relpPending is a command sent and not answered yet.
type relpPending struct {
	txnr int
	msg  int // index in the batch
}

// RELPResult tells what became of each message of a Send.
type RELPResult struct {
	// Delivered counts the messages answered 200.
	Delivered int
	// Unconfirmed counts the messages written to a session that broke
	// before their answer came: the server may or may not have them, so
	// sending them again may duplicate them.
	Unconfirmed int
	// Refused counts the messages the server answered with another status.
	Refused int
}

// NewRELP returns a RELPSender; it does not connect.
func NewRELP(cfg RELPConfig) (*RELPSender, error) {
	if cfg.Address == "" {
		return nil, errors.New("relp: no address")
	}
	if cfg.Window < 0 || cfg.ResponseTimeout < 0 {
		return nil, errors.New("relp: negative window or response timeout")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultRELPWindow
	}
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = DefaultRELPResponseTimeout
	}
	return &RELPSender{cfg: cfg, now: time.Now}, nil
}

// ErrRELPServerClose means the server announced the end of the session
// ("serverclose" hint).
var ErrRELPServerClose = errors.New("the RELP server closed the session (serverclose)")

// RELPRefusedError is a server's answer other than 200 to a message.
type RELPRefusedError struct {
	Index  int    // the message's index in the batch
	Status string // the answer, e.g. "500 command disabled"
}

func (e *RELPRefusedError) Error() string {
	return fmt.Sprintf("message %d: the RELP server answered %q", e.Index, e.Status)
}

// Send sends msgs with up to Window of them unanswered at a time and
// waits for every answer. delivered must have len(msgs) elements;
// delivered[i] is set when msgs[i] was answered 200, and only then.
//
// It returns nil only when every message was delivered. When the session
// breaks (the connection fails, the server says serverclose, an answer
// does not come within the response timeout or before the context ends,
// the server violates the protocol) the session is dropped, and the
// messages without an answer are counted as Unconfirmed: the caller sends
// them again on the next session, which may duplicate them but never
// loses them. Messages refused with another status (500) are reported as
// RELPRefusedError values and the session is kept.
func (s *RELPSender) Send(ctx context.Context, msgs [][]byte, delivered []bool) (RELPResult, error) {
	if len(delivered) != len(msgs) {
		panic("relp: delivered and msgs differ in length")
	}
	clear(delivered)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.session(ctx); err != nil {
		return RELPResult{}, err
	}
	// A context cancelled without a deadline must still end a blocked
	// read or write. The function gets its own copy of the connection: it
	// can run after Send returned and s.conn changed.
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var res RELPResult
	var refused []error
	s.inflight = s.inflight[:0]
	progress := s.now()
	for next := 0; next < len(msgs) || len(s.inflight) > 0; {
		if next < len(msgs) && len(s.inflight) < s.cfg.Window {
			// Frame as many messages as the window and one write chunk
			// allow (at least one).
			s.wbuf = s.wbuf[:0]
			for next < len(msgs) && len(s.inflight) < s.cfg.Window &&
				(len(s.wbuf) == 0 || len(s.wbuf)+len(msgs[next])+maxRELPFrameOverhead <= writeChunk) {
				s.txnr = nextTxnr(s.txnr)
				s.wbuf = appendRELPFrame(s.wbuf, s.txnr, "syslog", msgs[next])
				s.inflight = append(s.inflight, relpPending{txnr: s.txnr, msg: next})
				next++
			}
			if err := s.conn.SetWriteDeadline(s.deadline(ctx, progress)); err != nil {
				return s.broken(ctx, res, err)
			}
			if _, err := s.conn.Write(s.wbuf); err != nil {
				return s.broken(ctx, res, err)
			}
			if cap(s.wbuf) > 2*writeChunk {
				s.wbuf = nil // one huge message: do not keep its buffer
			}
			// Keep writing while the window has room, unless answers
			// are already waiting to be read.
			if next < len(msgs) && len(s.inflight) < s.cfg.Window && s.r.Buffered() == 0 {
				continue
			}
		}
		// librelp answers with Nagle's algorithm on (no TCP_NODELAY): an
		// answer waits until the previous one is acknowledged, and a
		// delayed ACK from this side stalls the answers, and so the
		// window, for up to 40 ms. Asking for the ACK at once took
		// rsyslog's rate over RELP from about 0.6 of TCP's to par.
		quickAck(s.conn)
		// Read at least one answer, then every answer already buffered.
		if err := s.conn.SetReadDeadline(s.deadline(ctx, progress)); err != nil {
			return s.broken(ctx, res, err)
		}
		for first := true; len(s.inflight) > 0 && (first || s.r.Buffered() > 0); first = false {
			txnr, cmd, err := s.readFrame()
			if err != nil {
				return s.broken(ctx, res, err)
			}
			switch {
			case cmd == "rsp":
				i := s.pendingIndex(txnr)
				if i < 0 {
					return s.broken(ctx, res, fmt.Errorf("protocol error: answer to transaction %d, which is not waiting for one", txnr))
				}
				p := s.inflight[i]
				s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
				status, _, _ := bytes.Cut(s.data, []byte("\n"))
				if isOK(status) {
					delivered[p.msg] = true
					res.Delivered++
				} else {
					res.Refused++
					refused = append(refused, &RELPRefusedError{Index: p.msg, Status: string(status)})
				}
				progress = s.now()
			case txnr == 0 && cmd == "serverclose":
				return s.broken(ctx, res, ErrRELPServerClose)
			case txnr == 0:
				// Another hint: hints need no answer, and an unknown one
				// may be ignored.
			default:
				return s.broken(ctx, res, fmt.Errorf("protocol error: the server sent command %q", cmd))
			}
		}
	}
	if len(refused) > 0 {
		// A server that refuses one message usually refuses them all
		// ("500 command disabled"): name the first few only.
		const named = 3
		more := ""
		if len(refused) > named {
			more = fmt.Sprintf(" (and %d more)", len(refused)-named)
			refused = refused[:named]
		}
		return res, fmt.Errorf("relp %s: the server refused %d of %d messages%s: %w", s.cfg.Address, res.Refused, len(msgs), more, errors.Join(refused...))
	}
	return res, nil
}

// broken drops the session after err; the messages still waiting for an
// answer are unconfirmed.
func (s *RELPSender) broken(ctx context.Context, res RELPResult, err error) (RELPResult, error) {
	res.Unconfirmed = len(s.inflight)
	s.inflight = s.inflight[:0]
	s.drop()
	err = withContextCause(ctx, err)
	return res, fmt.Errorf("relp %s: session broken with %d messages unanswered (they are sent again, so the server may get them twice): %w", s.cfg.Address, res.Unconfirmed, err)
}

// withContextCause says when err comes from the context ending (the
// connection's deadline is set from it), so the caller sees
// context.DeadlineExceeded or context.Canceled.
func withContextCause(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline and the context's can pass in the
		// same instant, before the context has noticed.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return err
}

// deadline is when waiting must end: ResponseTimeout after the last
// answer, or the context's deadline if earlier.
func (s *RELPSender) deadline(ctx context.Context, progress time.Time) time.Time {
	d := progress.Add(s.cfg.ResponseTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// pendingIndex finds the command txnr in the window: answers come in
// order (the spec asks servers to answer in the order received), so it is
// nearly always the first.
func (s *RELPSender) pendingIndex(txnr int) int {
	for i, p := range s.inflight {
		if p.txnr == txnr {
			return i
		}
	}
	return -1
}

func isOK(status []byte) bool {
	return len(status) >= 3 && string(status[:3]) == "200" && (len(status) == 3 || status[3] == ' ')
}

func nextTxnr(t int) int {
	if t >= maxTxnr {
		return 1
	}
	return t + 1
}

// appendRELPFrame appends "TXNR SP COMMAND SP DATALEN [SP DATA] LF".
func appendRELPFrame(dst []byte, txnr int, cmd string, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, cmd...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// readFrame reads one frame from the server into s.data and returns its
// transaction number and command.
func (s *RELPSender) readFrame() (int, string, error) {
	txnr, err := readRELPNumber(s.r, ' ', "transaction number")
	if err != nil {
		return 0, "", err
	}
	var cmd [32]byte
	n := 0
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, "", err
		}
		if c == ' ' && n > 0 {
			break
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') || n == len(cmd) {
			return 0, "", fmt.Errorf("protocol error: bad command in frame %d", txnr)
		}
		cmd[n] = c
		n++
	}
	size, err := readRELPNumber(s.r, 0, "data length")
	if err != nil {
		return 0, "", err
	}
	if size > maxRELPAnswer {
		return 0, "", fmt.Errorf("protocol error: frame %d announces %d octets of data, more than the %d an answer may have", txnr, size, maxRELPAnswer)
	}
	sep, err := s.r.ReadByte()
	if err != nil {
		return 0, "", err
	}
	switch {
	case size == 0 && sep == '\n':
		s.data = s.data[:0]
		return txnr, command(cmd[:n]), nil
	case size > 0 && sep == ' ':
	default:
		return 0, "", fmt.Errorf("protocol error: bad separator %q after the data length of frame %d", sep, txnr)
	}
	if cap(s.data) < size {
		s.data = make([]byte, size)
	}
	s.data = s.data[:size]
	if _, err := io.ReadFull(s.r, s.data); err != nil {
		return 0, "", err
	}
	if c, err := s.r.ReadByte(); err != nil {
		return 0, "", err
	} else if c != '\n' {
		return 0, "", fmt.Errorf("protocol error: frame %d does not end with LF after its %d octets of data", txnr, size)
	}
	return txnr, command(cmd[:n]), nil
}

// command returns the frame's command, without allocating for the ones a
// server sends.
func command(b []byte) string {
	switch string(b) {
	case "rsp":
		return "rsp"
	case "serverclose":
		return "serverclose"
	}
	return string(b)
}

// readRELPNumber reads 1 to 9 digits. With end set, it consumes end after
// them; with end 0, the byte after the digits stays unread.
func readRELPNumber(r *bufio.Reader, end byte, what string) (int, error) {
	v, n := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if c >= '0' && c <= '9' && n < 9 {
			v = 10*v + int(c-'0')
			n++
			continue
		}
		if n == 0 || (end != 0 && c != end) {
			return 0, fmt.Errorf("protocol error: bad %s (byte %q)", what, c)
		}
		if end == 0 {
			_ = r.UnreadByte()
		}
		return v, nil
	}
}

// session makes sure a session is open, opening one when there is none.
func (s *RELPSender) session(ctx context.Context) error {
	if s.conn != nil {
		// Between batches nothing is due from the server: anything to read
		// is a serverclose hint, EOF or a reset, and the session is over.
		// Nothing is lost by dropping it, as nothing is unanswered.
		if s.r.Buffered() == 0 && peerClosed(s.conn) == nil {
			return nil
		}
		s.drop()
	}
	if err := s.backoff.check(s.now()); err != nil {
		return err
	}
	if err := s.open(ctx); err != nil {
		s.drop()
		err = fmt.Errorf("relp %s: %w", s.cfg.Address, err)
		s.backoff.failed(s.now(), err)
		return err
	}
	s.backoff.succeeded()
	return nil
}

// openOffers is the data of the open command.
var openOffers = []byte("relp_version=" + strconv.Itoa(relpVersion) + "\nrelp_software=" + relpSoftware + "\ncommands=syslog")

// open connects and runs the open handshake.
func (s *RELPSender) open(ctx context.Context) error {
	conn, err := dial(ctx, "tcp", s.cfg.Address, s.cfg.TLSConfig, s.cfg.DialTimeout)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s.conn = conn
	if s.r == nil {
		s.r = bufio.NewReaderSize(conn, 64<<10)
	} else {
		s.r.Reset(conn)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.SetDeadline(s.deadline(ctx, s.now())); err != nil {
		return err
	}
	s.txnr = 1
	if _, err := conn.Write(appendRELPFrame(nil, 1, "open", openOffers)); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	txnr, cmd, err := s.readFrame()
	if err != nil {
		return fmt.Errorf("open: no answer: %w", withContextCause(ctx, err))
	}
	if txnr == 0 && cmd == "serverclose" {
		return fmt.Errorf("open: %w", ErrRELPServerClose)
	}
	if txnr != 1 || cmd != "rsp" {
		return fmt.Errorf("open: protocol error: the server answered with frame %d %q", txnr, cmd)
	}
	status, offers, _ := bytes.Cut(s.data, []byte("\n"))
	if !isOK(status) {
		return fmt.Errorf("open: the server refused the session: %q", status)
	}
	if err := checkOffers(string(offers)); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	return conn.SetDeadline(time.Time{})
}

// checkOffers checks the server's offers: the session needs RELP version
// 0 and the syslog command.
func checkOffers(offers string) error {
	version, syslog := -1, false
	for _, line := range strings.Split(offers, "\n") {
		name, value, _ := strings.Cut(line, "=")
		switch name {
		case "relp_version":
			v, err := strconv.Atoi(value)
			if err != nil {
				return fmt.Errorf("the server offers relp_version %q", value)
			}
			version = v
		case "commands":
			for _, c := range strings.Split(value, ",") {
				syslog = syslog || c == "syslog"
			}
		}
	}
	switch {
	case version < 0:
		return errors.New("the server's answer has no relp_version offer")
	case version > relpVersion:
		return fmt.Errorf("the server speaks relp_version %d, this client %d", version, relpVersion)
	case !syslog:
		return errors.New("the server does not offer the syslog command (commands=" + commandsOffer(offers) + ")")
	}
	return nil
}

func commandsOffer(offers string) string {
	for _, line := range strings.Split(offers, "\n") {
		if v, ok := strings.CutPrefix(line, "commands="); ok {
			return v
		}
	}
	return ""
}

func (s *RELPSender) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close ends the session politely: a "close" command, whose answer it
// waits for briefly, then the connection is closed. Nothing is
// unanswered at this point: Send waits for every answer or drops the
// session.
func (s *RELPSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	conn := s.conn
	defer s.drop()
	if s.r.Buffered() > 0 || peerClosed(conn) != nil {
		return nil // the server already ended the session
	}
	_ = conn.SetDeadline(s.now().Add(relpCloseTimeout))
	txnr := nextTxnr(s.txnr)
	if _, err := conn.Write(appendRELPFrame(nil, txnr, "close", nil)); err != nil {
		return nil // the connection is gone anyway
	}
	for {
		t, cmd, err := s.readFrame()
		if err != nil || (t == txnr && cmd == "rsp") || (t == 0 && cmd == "serverclose") {
			return nil
		}
	}
}
