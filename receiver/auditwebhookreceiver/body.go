package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/inflight"
)

// busyError refuses a request whose body found no room within
// max_in_flight_bytes before accept_timeout: a refusal to retry, as a full
// queue is.
type busyError struct {
	capacity int64
	err      error
}

func (e *busyError) Error() string {
	return fmt.Sprintf("the receiver is busy: request bodies in flight take max_in_flight_bytes (%d bytes), retry later", e.capacity)
}

func (e *busyError) Unwrap() error { return e.err }

// firstPiece is the share leased for a body of unknown size (chunked, or
// compressed: its decoded size is unknown) before its first bytes are read;
// the share doubles as the body arrives.
const firstPiece = 64 << 10

// readBody reads req's body, holding a share of max_in_flight_bytes in
// lease for every byte the buffer can hold: the whole announced
// Content-Length before reading, else piece by piece. Waiting for a share
// ends at arrived plus accept_timeout, with a busyError. Bodies over
// max_request_body_size, before or after decompression, end with
// confighttp's *http.MaxBytesError.
func (r *auditReceiver) readBody(req *http.Request, lease *inflight.Lease, arrived time.Time) ([]byte, error) {
	wait := leaseWait{ctx: req.Context(), deadline: arrived.Add(r.cfg.AcceptTimeout)}
	defer wait.done()
	// net/http ends a body at its Content-Length; confighttp sets -1 for a
	// body it decompresses.
	size, limit := req.ContentLength, r.maxBody
	piece := min(limit, firstPiece)
	if size >= 0 {
		limit, piece = size, size
	}
	if err := r.lease(&wait, lease, piece); err != nil {
		return nil, err
	}
	buf := getBuffer(int(piece))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return buf, atEnd(req.Body, limit)
			}
			grown := min(2*int64(cap(buf)), limit)
			if err := r.lease(&wait, lease, grown-int64(cap(buf))); err != nil {
				return buf, err
			}
			next := getBuffer(int(grown))[:len(buf)]
			copy(next, buf)
			putBuffer(buf)
			buf = next
		}
		n, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// atEnd checks that a body read up to limit bytes has ended.
func atEnd(body io.Reader, limit int64) error {
	var probe [1]byte
	_, err := io.ReadFull(body, probe[:])
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err // past max_request_body_size: confighttp's MaxBytesError
	default:
		return &http.MaxBytesError{Limit: limit}
	}
}

// leaseWait is the wait of one request for its share of
// max_in_flight_bytes, up to its deadline. Its context (and the timer of
// that context) is made the first time the request must wait: most never
// do.
type leaseWait struct {
	ctx      context.Context
	deadline time.Time
	cancel   context.CancelFunc
}

func (w *leaseWait) context() context.Context {
	if w.cancel == nil {
		w.ctx, w.cancel = context.WithDeadline(w.ctx, w.deadline)
	}
	return w.ctx
}

func (w *leaseWait) done() {
	if w.cancel != nil {
		w.cancel()
	}
}

// lease grows the request's share of max_in_flight_bytes by n bytes.
func (r *auditReceiver) lease(wait *leaseWait, lease *inflight.Lease, n int64) error {
	ok, err := lease.TryGrow(n)
	if !ok && err == nil {
		err = lease.Grow(wait.context(), n)
	}
	if err != nil {
		return &busyError{capacity: r.inflight.Capacity(), err: err}
	}
	return nil
}

// Body buffers up to maxPooledBuffer are reused; records copy what they
// keep of them. Larger ones are not, so records may keep references into
// them (events.Options.Owned).
const maxPooledBuffer = 1 << 20

var bufPool sync.Pool // of *[]byte

// getBuffer returns an empty buffer with room for n bytes.
func getBuffer(n int) []byte {
	if n <= maxPooledBuffer {
		if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
			return (*p)[:0]
		}
		return make([]byte, 0, max(n, 512))
	}
	return make([]byte, 0, n)
}

// putBuffer gives a buffer back for reuse if it is small enough to keep.
func putBuffer(b []byte) {
	if pooled(b) {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// pooled reports whether b goes back to the pool after its request.
func pooled(b []byte) bool { return cap(b) > 0 && cap(b) <= maxPooledBuffer }
