package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/coalesce"
)

// response is the JSON body of every answer to a vendor path.
type response struct {
	// Accepted counts the records the pipeline accepted.
	Accepted int `json:"accepted"`
	// Parsed, Flagged, Dropped and Skipped account for the request's
	// events (see vendors.Result).
	Parsed  int `json:"parsed"`
	Flagged int `json:"flagged"`
	Dropped int `json:"dropped"`
	Skipped int `json:"skipped"`
	// Error says why the request failed (non-2xx only).
	Error string `json:"error,omitempty"`
	// Errors lists the first problems found in the events; MoreErrors
	// counts the others.
	Errors     []vendors.Problem `json:"errors,omitempty"`
	MoreErrors int               `json:"more_errors,omitempty"`
}

// utf8BOM is skipped: some Windows tools write it before JSON.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func (r *auditReceiver) handleEvents(w http.ResponseWriter, req *http.Request, rt *route) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed: post the events")
		return
	}
	observed := time.Now()
	if req.ContentLength > r.maxBody {
		r.tooLarge(w)
		return
	}

	// The body's share of max_in_flight_bytes is held until the request is
	// answered: its records, built from it, live as long.
	lease := r.inflight.Lease()
	defer lease.Release()
	body, err := r.readBody(req, lease, observed)
	// Reading the body to its end made net/http start a goroutine that
	// reads ahead on the connection (it watches for the client going away
	// while the handler runs), and net/http waits for that goroutine to
	// stop before it reads the connection's next request. Left behind the
	// goroutines this handler wakes (sending queues, the calls combined
	// with this one), it started only after them: 0.7 ms at the 99th
	// percentile of an execution trace under load, added to the next
	// request's latency. Yielding here lets it start, and park in the
	// poller, at once. Measured: 2-6% more events/s at one event per
	// request (bench/README.md, "What was done").
	runtime.Gosched()
	// keep is given back for reuse at the end. A body too large to reuse
	// is left to the garbage collector as soon as nothing refers to it
	// (see below).
	keep := body
	defer func() { putBuffer(keep) }()
	if err != nil {
		var tooBig *http.MaxBytesError
		var busy *busyError
		switch {
		case errors.As(err, &tooBig):
			r.tooLarge(w)
		case errors.As(err, &busy):
			r.tb.ReceiverAuditwebhookBusyRefusals.Add(req.Context(), 1, rt.attrs)
			r.set.Logger.Warn("Refused a request: request bodies in flight take max_in_flight_bytes; asked the sender to retry",
				zap.String("source", rt.source), zap.Int64("max_in_flight_bytes", r.inflight.Capacity()), zap.Error(busy.err))
			r.retryLater(w, &response{Error: busy.Error()})
		default:
			writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		}
		return
	}

	// Signatures cover the body as sent, before any byte is interpreted.
	if rt.verifier != nil {
		if err := rt.verifier.Verify(req.Header, body); err != nil {
			r.tb.ReceiverAuditwebhookBadSignatures.Add(req.Context(), 1, rt.attrs)
			r.set.Logger.Warn("Refused a request with a missing or wrong signature",
				zap.String("source", rt.source), zap.String("remote", req.RemoteAddr), zap.Error(err))
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
	}

	text := bytes.TrimPrefix(body, utf8BOM)
	if len(bytes.TrimSpace(text)) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: expected "+rt.expects)
		return
	}

	// Records go to the pipeline in calls of maxCallRecords as they are
	// parsed, so a body of many events never has all its records in
	// memory at once.
	sub := submission{ctx: req.Context(), submitter: rt.submitter, arrived: observed}
	opts := vendors.Options{
		Observed:        pcommon.NewTimestampFromTime(observed),
		ForwardUnparsed: r.cfg.ForwardUnparsed,
		Flush:           sub.submit,
		FlushAt:         maxCallRecords,
	}
	size := len(text)
	if !pooled(body) {
		// Never reused: an unparseable body need not be copied. And
		// nothing here refers to it once it is parsed, so while its last
		// records wait for the pipeline it is freed unless they share it.
		opts.Owned = text
		keep = nil
	}
	recs := plog.NewLogRecordSlice()
	res := rt.parse(text, opts, recs)
	if sub.err == nil && recs.Len() > 0 {
		sub.submit(recs, size) // a parser that reads the whole body first
	}

	r.count(req, rt, res)
	resp := response{
		Accepted: sub.accepted,
		Parsed:   res.Parsed, Flagged: res.Flagged, Dropped: res.Dropped, Skipped: res.Skipped,
		Errors: res.Problems, MoreErrors: res.ProblemCount - len(res.Problems),
	}
	if sub.records == 0 {
		if res.ProblemCount > 0 {
			// Nothing usable and nothing forwarded: the sender must know.
			resp.Error = fmt.Sprintf("no usable event in the request (%d could not be parsed and forward_unparsed is off); expected %s", res.Dropped, rt.expects)
			if res.Dropped == 0 {
				resp.Error = "no event in the request; expected " + rt.expects
			}
			writeResponse(w, http.StatusBadRequest, &resp)
			return
		}
		writeResponse(w, http.StatusOK, &resp) // only skipped (non-audit) events
		return
	}

	if err := sub.err; err != nil {
		if consumererror.IsPermanent(err) {
			r.set.Logger.Error("The pipeline rejected audit events permanently", zap.String("source", rt.source), zap.Int("records", sub.records), zap.Int("accepted", sub.accepted), zap.Error(err))
			resp.Error = "the pipeline rejected the events: " + err.Error()
			writeResponse(w, http.StatusInternalServerError, &resp)
			return
		}
		r.set.Logger.Warn("The pipeline refused audit events; asked the sender to retry", zap.String("source", rt.source), zap.Int("records", sub.records), zap.Int("accepted", sub.accepted), zap.Error(err))
		resp.Error = "the pipeline is busy, retry later: " + err.Error()
		r.retryLater(w, &resp)
		return
	}
	writeResponse(w, http.StatusOK, &resp)
}

// submission hands one request's records to the pipeline, in one or more
// pieces, and keeps the account.
type submission struct {
	ctx       context.Context
	submitter *coalesce.Submitter
	arrived   time.Time

	records  int   // handed on
	accepted int   // accepted by the pipeline
	err      error // the first refusal; nothing is handed on after it
}

// submit hands on recs, made from size bytes of the body, and reports
// whether the pipeline accepted them all.
func (s *submission) submit(recs plog.LogRecordSlice, size int) bool {
	s.records += recs.Len()
	k, err := s.submitter.SubmitSince(s.ctx, recs, s.arrived, int64(size))
	s.accepted += k
	if err != nil {
		s.err = err
		return false
	}
	return true
}

// count records the request's parse problems in the receiver's telemetry
// and its log.
func (r *auditReceiver) count(req *http.Request, rt *route, res vendors.Result) {
	ctx := req.Context()
	if res.Flagged > 0 {
		r.tb.ReceiverAuditwebhookUnparsedEvents.Add(ctx, int64(res.Flagged), rt.forwardedAttrs)
	}
	if res.Dropped > 0 {
		r.tb.ReceiverAuditwebhookUnparsedEvents.Add(ctx, int64(res.Dropped), rt.droppedAttrs)
	}
	if res.Skipped > 0 {
		r.tb.ReceiverAuditwebhookSkippedEvents.Add(ctx, int64(res.Skipped), rt.attrs)
	}
	if res.ProblemCount > 0 {
		r.set.Logger.Warn("Some audit events could not be parsed",
			zap.String("source", rt.source), zap.Int("flagged", res.Flagged), zap.Int("dropped", res.Dropped),
			zap.String("first_error", res.Problems[0].Error), zap.Int("first_error_line", res.Problems[0].Line))
	}
}

// retryLater answers 503 with Retry-After: a refusal the sender can retry.
func (r *auditReceiver) retryLater(w http.ResponseWriter, resp *response) {
	w.Header()["Retry-After"] = []string{strconv.Itoa(retryAfterSeconds(r.cfg.RetryAfter))}
	writeResponse(w, http.StatusServiceUnavailable, resp)
}

func (r *auditReceiver) tooLarge(w http.ResponseWriter) {
	writeError(w, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body larger than max_request_body_size (%d bytes, also the limit after decompression)", r.maxBody))
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, response{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"cannot encode the response"}`)
		status = http.StatusInternalServerError
	}
	writeBody(w, status, append(b, '\n'))
}

// writeResponse writes resp as writeJSON does; the common answer, counts
// without problems, is encoded by hand (the same bytes, a fraction of the
// work).
func writeResponse(w http.ResponseWriter, status int, resp *response) {
	if resp.Error != "" || len(resp.Errors) > 0 || resp.MoreErrors != 0 {
		writeJSON(w, status, resp)
		return
	}
	var buf [128]byte
	writeBody(w, status, appendCounts(buf[:0], resp))
}

// appendCounts appends resp's counts as encoding/json writes a response
// without problems, and a newline.
func appendCounts(b []byte, resp *response) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(resp.Accepted), 10)
	b = append(b, `,"parsed":`...)
	b = strconv.AppendInt(b, int64(resp.Parsed), 10)
	b = append(b, `,"flagged":`...)
	b = strconv.AppendInt(b, int64(resp.Flagged), 10)
	b = append(b, `,"dropped":`...)
	b = strconv.AppendInt(b, int64(resp.Dropped), 10)
	b = append(b, `,"skipped":`...)
	b = strconv.AppendInt(b, int64(resp.Skipped), 10)
	return append(b, "}\n"...)
}

// Header values shared by every answer (never modified in place).
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
)

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func quote(s string) string { return strconv.Quote(s) }
