package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrBadFrame is a frame that starts with neither a length nor '<'. The
// reader has skipped to the next newline and can go on.
var ErrBadFrame = errors.New("frame starts with neither an octet count nor '<'")

// ErrFrameTooLarge is a frame over the reader's limit, and ErrBadCount an
// octet count that is not digits then a space. The stream cannot be
// resynchronised after either.
var (
	ErrFrameTooLarge = errors.New("frame over the size limit")
	ErrBadCount      = errors.New("bad octet count")
)

// FrameReader splits a TCP syslog stream into messages. Senders choose
// their framing (RFC 6587 section 3.4.1 octet counting, or 3.4.2
// non-transparent framing with LF); a frame that starts with a digit is
// octet-counted, one that starts with '<' ends at the next LF.
type FrameReader struct {
	r         *bufio.Reader
	maxLen    int
	maxDigits int // of an octet count: as many as maxLen has
	buf       []byte
}

// NewFrameReader reads frames of at most maxLen bytes from r.
func NewFrameReader(r io.Reader, maxLen int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64*1024), maxLen: maxLen, maxDigits: len(strconv.Itoa(maxLen))}
}

// Reset makes f read from r, forgetting what it had buffered: a reader can
// serve one connection after another without allocating its buffers again.
func (f *FrameReader) Reset(r io.Reader) { f.r.Reset(r) }

// Next returns the next message, without its framing. The slice is valid
// until the next call. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF when the stream ends inside a frame.
func (f *FrameReader) Next() ([]byte, error) {
	first, err := f.r.Peek(1)
	if err != nil {
		return nil, err
	}
	switch c := first[0]; {
	case c >= '1' && c <= '9':
		return f.octetCounted()
	case c == '<':
		return f.lineTerminated()
	default:
		if _, err := f.lineTerminated(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, err
		}
		return nil, fmt.Errorf("%w (first byte %q)", ErrBadFrame, c)
	}
}

func (f *FrameReader) octetCounted() ([]byte, error) {
	// MSG-LEN has at most as many digits as maxLen, then a space. Read it
	// byte by byte: peeking further could wait for data that a sender
	// between two messages will not send.
	maxDigits := f.maxDigits
	n := 0
	for digits := 0; ; digits++ {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || digits == maxDigits {
			return nil, fmt.Errorf("%w: want at most %d digits then a space, got %q", ErrBadCount, maxDigits, c)
		}
		n = n*10 + int(c-'0')
	}
	if n > f.maxLen {
		return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, f.maxLen)
	}
	f.buf = grow(f.buf, n)
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return f.buf, nil
}

func (f *FrameReader) lineTerminated() ([]byte, error) {
	f.buf = f.buf[:0]
	for {
		chunk, err := f.r.ReadSlice('\n')
		f.buf = append(f.buf, chunk...)
		switch {
		case err == nil:
			msg := bytes.TrimSuffix(f.buf[:len(f.buf)-1], []byte("\r"))
			if len(msg) > f.maxLen {
				return nil, fmt.Errorf("%w: line of %d bytes > %d", ErrFrameTooLarge, len(msg), f.maxLen)
			}
			return msg, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(f.buf) > f.maxLen {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrFrameTooLarge, f.maxLen)
			}
		case errors.Is(err, io.EOF):
			if len(f.buf) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
