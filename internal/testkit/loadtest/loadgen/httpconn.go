package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Glassix signs with HMAC-SHA1; the harness must too.
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// The clients speak HTTP/1.1 over their own connection instead of going
// through net/http's Transport. The Transport hands every request to two
// goroutines of its own (a connection's reader and writer) and allocates a
// request, headers and a response per call: about 27 us of CPU per request
// on the development machine, on the very cores the collector under test
// runs on. One goroutine writing a request with one write and reading the
// answer itself costs a fraction of that. Only what a webhook receiver
// answers is understood: a status line, headers, and a body framed by
// Content-Length, chunked transfer coding or the end of the connection.

// endpoint is where the clients post, parsed once.
type endpoint struct {
	url  string // for error messages
	addr string // host:port to dial
	// head is the request line and the fixed headers, up to the value of
	// Content-Length.
	head []byte
}

func parseEndpoint(raw string) (*endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("loadgen: %q: only http:// URLs are supported", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("loadgen: %q: no host", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	target := u.RequestURI()
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: otelcol-audit-loadgen\r\n"+
		"Content-Type: application/json\r\nContent-Length: ", target, u.Host)
	return &endpoint{url: raw, addr: addr, head: head}, nil
}

// Limits on what the client accepts from a server.
const (
	maxHeaderLine  = 8 << 10 // the reader's buffer: a longer line is refused
	maxHeaderLines = 100
	// idleCheckAfter is how long a connection may sit unused before the
	// client checks, before sending on it, that the server has not closed
	// it meanwhile (as net/http's Transport notices in the background). A
	// closed-loop client never waits that long; a paced one does.
	idleCheckAfter = 50 * time.Millisecond
)

// errProtocol is an answer the client cannot read as HTTP/1.1.
var errProtocol = errors.New("malformed HTTP response")

// response is what the client keeps of an answer.
type response struct {
	status     int
	retryAfter time.Duration
	keepAlive  bool
}

// httpConn is one client's keep-alive connection. It is used by one
// goroutine at a time.
type httpConn struct {
	ep      *endpoint
	ctx     context.Context
	timeout time.Duration
	dialer  net.Dialer

	nc         net.Conn
	r          *bufio.Reader
	stopCancel func() bool
	lastUsed   time.Time

	req []byte // the request being sent, reused
	// mac signs bodies; secret is empty when requests are unsigned.
	secret []byte
	mac    hash.Hash
	sum    []byte
}

func newHTTPConn(ctx context.Context, ep *endpoint, secret string, timeout time.Duration) *httpConn {
	c := &httpConn{ep: ep, ctx: ctx, timeout: timeout, dialer: net.Dialer{Timeout: 5 * time.Second}}
	if secret != "" {
		c.secret = []byte(secret)
		c.mac = hmac.New(sha1.New, c.secret)
	}
	return c
}

// post sends body and reads the whole answer. Any error leaves the
// connection closed; the next post dials again.
func (c *httpConn) post(body []byte) (response, error) {
	resp, err := c.roundTrip(body)
	if err != nil {
		c.close()
		return response{}, fmt.Errorf("post %q: %w", c.ep.url, err)
	}
	if !resp.keepAlive {
		c.close()
	}
	c.lastUsed = time.Now()
	return resp, nil
}

func (c *httpConn) roundTrip(body []byte) (response, error) {
	if err := c.ctx.Err(); err != nil {
		return response{}, err
	}
	if c.nc != nil && time.Since(c.lastUsed) > idleCheckAfter && !c.stillOpen() {
		c.close()
	}
	if c.nc == nil {
		if err := c.dial(); err != nil {
			return response{}, err
		}
	}
	if c.timeout > 0 {
		if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return response{}, err
		}
	}
	// ctx may have ended, and pulled the deadline in, before the line
	// above pushed it out again.
	if err := c.ctx.Err(); err != nil {
		return response{}, err
	}
	c.req = append(c.req[:0], c.ep.head...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n"...)
	if c.mac != nil {
		c.mac.Reset()
		c.mac.Write(body)
		c.sum = c.mac.Sum(c.sum[:0])
		c.req = append(c.req, "X-Hub-Signature: sha1="...)
		c.req = hex.AppendEncode(c.req, c.sum)
		c.req = append(c.req, "\r\n"...)
	}
	c.req = append(c.req, "\r\n"...)
	c.req = append(c.req, body...)
	if _, err := c.nc.Write(c.req); err != nil {
		return response{}, c.ctxErr(err)
	}
	resp, err := readResponse(c.r)
	return resp, c.ctxErr(err)
}

// ctxErr says the request was cancelled, rather than what the pulled-in
// deadline made of it.
func (c *httpConn) ctxErr(err error) error {
	if err != nil && c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	return err
}

func (c *httpConn) dial() error {
	nc, err := c.dialer.DialContext(c.ctx, "tcp", c.ep.addr)
	if err != nil {
		return err
	}
	c.nc = nc
	if c.r == nil {
		c.r = bufio.NewReaderSize(nc, maxHeaderLine)
	} else {
		c.r.Reset(nc)
	}
	// Ending ctx interrupts a request in flight, as it does in net/http.
	c.stopCancel = context.AfterFunc(c.ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// stillOpen reports whether the server has neither closed the idle
// connection nor sent anything on it (an unasked-for answer, such as a
// 408 before closing, means the connection is done too). It peeks at the
// socket without waiting: a read deadline in the past would not even try.
func (c *httpConn) stillOpen() bool {
	if c.r.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is an open, quiet connection; data,
		// the end of the stream (n == 0) or an error are not.
		open = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && open
}

func (c *httpConn) close() {
	if c.nc == nil {
		return
	}
	c.stopCancel()
	_ = c.nc.Close()
	c.nc = nil
}

// readResponse reads one answer to a POST, skipping interim (1xx) ones,
// and discards its body.
func readResponse(r *bufio.Reader) (response, error) {
	for {
		resp, framing, err := readHead(r)
		if err != nil {
			return response{}, err
		}
		if resp.status == 101 {
			return response{}, fmt.Errorf("%w: 101 Switching Protocols to a POST that asked for none", errProtocol)
		}
		if resp.status < 200 { // 100 Continue, 103 Early Hints: the answer follows
			continue
		}
		if err := discardBody(r, resp.status, framing, &resp); err != nil {
			return response{}, err
		}
		return resp, nil
	}
}

// bodyFraming is how the end of a body is found.
type bodyFraming struct {
	chunked       bool
	contentLength int64 // -1: none given
}

func readHead(r *bufio.Reader) (response, bodyFraming, error) {
	line, err := readLine(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The server closed the connection without answering.
			return response{}, bodyFraming{}, io.ErrUnexpectedEOF
		}
		return response{}, bodyFraming{}, err
	}
	resp, http10, err := parseStatusLine(line)
	if err != nil {
		return response{}, bodyFraming{}, err
	}
	framing := bodyFraming{contentLength: -1}
	resp.keepAlive = !http10
	for n := 0; ; n++ {
		line, err := readLine(r)
		if err != nil {
			return response{}, bodyFraming{}, noEOF(err)
		}
		if len(line) == 0 {
			return resp, framing, nil
		}
		if n == maxHeaderLines {
			return response{}, bodyFraming{}, fmt.Errorf("%w: more than %d header lines", errProtocol, maxHeaderLines)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return response{}, bodyFraming{}, fmt.Errorf("%w: header line %q", errProtocol, line)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || value[0] == '+' {
				return response{}, bodyFraming{}, fmt.Errorf("%w: Content-Length %q", errProtocol, value)
			}
			if framing.contentLength >= 0 && framing.contentLength != n {
				return response{}, bodyFraming{}, fmt.Errorf("%w: two different Content-Lengths", errProtocol)
			}
			framing.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// The body is chunked when chunked is the last coding; any
			// other coding runs to the end of the connection.
			codings := bytes.Split(value, []byte(","))
			framing.chunked = bytes.EqualFold(bytes.TrimSpace(codings[len(codings)-1]), []byte("chunked"))
			if !framing.chunked {
				resp.keepAlive = false
			}
		case bytes.EqualFold(name, []byte("Connection")):
			for token := range bytes.SplitSeq(value, []byte(",")) {
				token = bytes.TrimSpace(token)
				switch {
				case bytes.EqualFold(token, []byte("close")):
					resp.keepAlive = false
				case http10 && bytes.EqualFold(token, []byte("keep-alive")):
					resp.keepAlive = true
				}
			}
		case bytes.EqualFold(name, []byte("Retry-After")):
			resp.retryAfter = parseRetryAfter(string(value))
		}
	}
}

// parseStatusLine reads "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (resp response, http10 bool, err error) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	switch {
	case !ok:
		return response{}, false, fmt.Errorf("%w: status line %q", errProtocol, line)
	case string(proto) == "HTTP/1.1":
	case string(proto) == "HTTP/1.0":
		http10 = true
	default:
		return response{}, false, fmt.Errorf("%w: protocol %q in status line %q", errProtocol, proto, line)
	}
	code, _, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 || code[0] < '1' || code[0] > '5' || !isDigit(code[1]) || !isDigit(code[2]) {
		return response{}, false, fmt.Errorf("%w: status code in %q", errProtocol, line)
	}
	resp.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	resp.retryAfter = minRetryAfter
	return resp, http10, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// readLine returns a line without its CRLF (or bare LF). The slice is
// valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: header line longer than %d bytes", errProtocol, maxHeaderLine)
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// discardBody reads the body to its end: by its length, its chunks, or
// the end of the connection.
func discardBody(r *bufio.Reader, status int, framing bodyFraming, resp *response) error {
	switch {
	case status == 204 || status == 304:
		return nil
	case framing.chunked:
		return discardChunks(r)
	case framing.contentLength >= 0:
		_, err := r.Discard(int(framing.contentLength))
		return noEOF(err)
	default:
		resp.keepAlive = false
		_, err := io.Copy(io.Discard, r)
		return err
	}
}

func discardChunks(r *bufio.Reader) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return noEOF(err)
		}
		sizeField, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions are ignored
		size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeField)), 16, 62)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errProtocol, line)
		}
		if size == 0 {
			// Trailer fields, then an empty line.
			for n := 0; ; n++ {
				line, err := readLine(r)
				if err != nil {
					return noEOF(err)
				}
				if len(line) == 0 {
					return nil
				}
				if n == maxHeaderLines {
					return fmt.Errorf("%w: more than %d trailer lines", errProtocol, maxHeaderLines)
				}
			}
		}
		if _, err := r.Discard(int(size)); err != nil {
			return noEOF(err)
		}
		line, err = readLine(r)
		if err != nil {
			return noEOF(err)
		}
		if len(line) != 0 {
			return fmt.Errorf("%w: chunk data longer than its size", errProtocol)
		}
	}
}

// noEOF turns the end of the connection inside an answer into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
