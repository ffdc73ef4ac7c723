package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/events"
)

// response is the JSON body of every answer to a vendor path.
type response struct {
	// Accepted counts the records the pipeline accepted.
	Accepted int `json:"accepted"`
	// Parsed, Flagged, Dropped and Skipped account for the request's
	// events (see events.Result).
	Parsed  int `json:"parsed"`
	Flagged int `json:"flagged"`
	Dropped int `json:"dropped"`
	Skipped int `json:"skipped"`
	// Error says why the request failed (non-2xx only).
	Error string `json:"error,omitempty"`
	// Errors lists the first problems found in the events; MoreErrors
	// counts the others.
	Errors     []events.Problem `json:"errors,omitempty"`
	MoreErrors int              `json:"more_errors,omitempty"`
}

// utf8BOM is skipped: some Windows tools write it before JSON.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// bufPool recycles request body buffers. Records copy what they keep, so
// a buffer is free again once the request is answered.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 1 << 20

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

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			bufPool.Put(buf)
		}
	}()
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	// req.Body is limited to max_request_body_size by confighttp, before
	// and after decompression.
	if _, err := buf.ReadFrom(req.Body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r.tooLarge(w)
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return
	}
	body := buf.Bytes()

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

	body = bytes.TrimPrefix(body, utf8BOM)
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: expected "+rt.expects)
		return
	}

	recs := plog.NewLogRecordSlice()
	res := rt.parse(body, events.Options{
		Observed:        pcommon.NewTimestampFromTime(observed),
		ForwardUnparsed: r.cfg.ForwardUnparsed,
	}, recs)

	r.count(req, rt, res)
	resp := response{
		Parsed: res.Parsed, Flagged: res.Flagged, Dropped: res.Dropped, Skipped: res.Skipped,
		Errors: res.Problems, MoreErrors: res.ProblemCount - len(res.Problems),
	}
	n := recs.Len()
	if n == 0 {
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

	accepted, err := rt.submitter.Submit(req.Context(), recs)
	resp.Accepted = accepted
	if err != nil {
		if consumererror.IsPermanent(err) {
			r.set.Logger.Error("The pipeline rejected audit events permanently", zap.String("source", rt.source), zap.Int("records", n), zap.Int("accepted", accepted), zap.Error(err))
			resp.Error = "the pipeline rejected the events: " + err.Error()
			writeResponse(w, http.StatusInternalServerError, &resp)
			return
		}
		r.set.Logger.Warn("The pipeline refused audit events; asked the sender to retry", zap.String("source", rt.source), zap.Int("records", n), zap.Int("accepted", accepted), zap.Error(err))
		w.Header()["Retry-After"] = []string{strconv.Itoa(retryAfterSeconds(r.cfg.RetryAfter))}
		resp.Error = "the pipeline is busy, retry later: " + err.Error()
		writeResponse(w, http.StatusServiceUnavailable, &resp)
		return
	}
	writeResponse(w, http.StatusOK, &resp)
}

// count records the request's parse problems in the receiver's telemetry
// and its log.
func (r *auditReceiver) count(req *http.Request, rt *route, res events.Result) {
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
