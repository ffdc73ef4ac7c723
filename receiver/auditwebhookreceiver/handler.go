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

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/events"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
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

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, rt.source)
	rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, rt.source)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	res := rt.parse(body, events.Options{
		Observed:        pcommon.NewTimestampFromTime(observed),
		ForwardUnparsed: r.cfg.ForwardUnparsed,
	}, sl.LogRecords())

	r.count(req, rt, res)
	resp := response{
		Parsed: res.Parsed, Flagged: res.Flagged, Dropped: res.Dropped, Skipped: res.Skipped,
		Errors: res.Problems, MoreErrors: res.ProblemCount - len(res.Problems),
	}
	n := sl.LogRecords().Len()
	if n == 0 {
		if res.ProblemCount > 0 {
			// Nothing usable and nothing forwarded: the sender must know.
			resp.Error = fmt.Sprintf("no usable event in the request (%d could not be parsed and forward_unparsed is off); expected %s", res.Dropped, rt.expects)
			if res.Dropped == 0 {
				resp.Error = "no event in the request; expected " + rt.expects
			}
			writeJSON(w, http.StatusBadRequest, resp)
			return
		}
		writeJSON(w, http.StatusOK, resp) // only skipped (non-audit) events
		return
	}

	ctx := r.obsrecv.StartLogsOp(req.Context())
	err := r.next.ConsumeLogs(ctx, logs)
	r.obsrecv.EndLogsOp(ctx, rt.source, n, err)
	if err != nil {
		if consumererror.IsPermanent(err) {
			r.set.Logger.Error("The pipeline rejected audit events permanently", zap.String("source", rt.source), zap.Int("records", n), zap.Error(err))
			resp.Error = "the pipeline rejected the events: " + err.Error()
			writeJSON(w, http.StatusInternalServerError, resp)
			return
		}
		r.set.Logger.Warn("The pipeline refused audit events; asked the sender to retry", zap.String("source", rt.source), zap.Int("records", n), zap.Error(err))
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(r.cfg.RetryAfter)))
		resp.Error = "the pipeline is busy, retry later: " + err.Error()
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	resp.Accepted = n
	writeJSON(w, http.StatusOK, resp)
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func quote(s string) string { return strconv.Quote(s) }
