package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/web"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
)

// The API's paths.
const (
	pathEvents      = "/api/events"
	pathEventsCSV   = "/api/events.csv"
	pathEventsJSONL = "/api/events.jsonl"
	pathLine        = "/api/line"
	pathHints       = "/api/hints"
	pathStatus      = "/api/status"
	pathIntegrity   = "/api/integrity"
)

func (v *viewer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathEvents, v.handleEvents)
	mux.HandleFunc("GET "+pathEventsCSV, v.handleExport(auditquery.FormatCSV))
	mux.HandleFunc("GET "+pathEventsJSONL, v.handleExport(auditquery.FormatJSONL))
	mux.HandleFunc("GET "+pathLine, v.handleLine)
	mux.HandleFunc("GET "+pathHints, v.handleHints)
	mux.HandleFunc("GET "+pathStatus, v.handleStatus)
	mux.HandleFunc("GET "+pathIntegrity, v.handleIntegrity)
	mux.Handle("GET /", web.Handler())
	return securityHeaders(v.refuseEmptyPassword(methodCheck(mux)))
}

// refuseEmptyPassword answers 401 to Basic credentials with an empty
// password, whatever the authenticator decided: an htpasswd line written
// as "user:${env:PASSWORD}" with the variable unset ("user:") lets
// basicauth accept an empty password, and an empty password guards
// nothing.
func (v *viewer) refuseEmptyPassword(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); ok && pass == "" {
			v.failedLogin(r, "empty password")
			w.Header().Set("WWW-Authenticate", basicChallenge)
			writeError(w, http.StatusUnauthorized, "an empty password is never accepted: set the viewer's password (in the shipped collector.yaml, the VIEWER_PASSWORD environment variable) and restart the collector")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// basicChallenge asks a browser for the viewer's user and password.
const basicChallenge = `Basic realm="otelcol-audit viewer", charset="UTF-8"`

// securityHeaders keeps audit data out of caches and the page out of
// frames, and lets the page run only its own script and style.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// methodCheck answers anything but GET and HEAD with 405: the viewer is
// read-only.
func methodCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: the viewer is read-only, use GET")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serverError answers the errors confighttp detects before our handler,
// above all failed authentication, in the API's format. With basicauth the
// answer carries a Basic challenge, so a browser asks for the password.
func (v *viewer) serverError(w http.ResponseWriter, r *http.Request, msg string, status int) {
	if status == http.StatusUnauthorized {
		v.failedLogin(r, msg)
		if a := v.cfg.Auth.Get(); a != nil && a.Config.AuthenticatorID.Type().String() == "basicauth" {
			w.Header().Set("WWW-Authenticate", basicChallenge)
		}
	}
	writeError(w, status, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// searcher brings the index up to date (unless a refresh is running); it
// answers the request itself when the archive cannot be read.
func (v *viewer) searcher(w http.ResponseWriter) (*auditquery.DiskIndex, bool) {
	sn, err := v.refresh(false)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errNoArchive) || errors.Is(err, fs.ErrNotExist) || v.ctx.Err() != nil {
			// Not yet written, or shutting down: worth asking again.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "10")
		}
		v.set.Logger.Debug("Cannot read the audit archive", zap.Error(err))
		if errors.Is(err, errIndexUnavailable) {
			w.Header().Set("Retry-After", "10")
			writeError(w, http.StatusServiceUnavailable, err.Error()+" (delivery and the archive are not affected; the index catches up when the database answers)")
			return nil, false
		}
		writeError(w, status, "cannot read the audit archive at "+v.cfg.Path+": "+err.Error())
		return nil, false
	}
	return sn, true
}

func (v *viewer) parse(w http.ResponseWriter, r *http.Request, maxLimit int) (auditquery.Query, auditquery.PageRequest, bool) {
	q, p, err := auditquery.ParseQuery(r.URL.Query(), auditquery.ParseOptions{
		DefaultLimit: v.cfg.DefaultPageSize,
		MaxLimit:     maxLimit,
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return q, p, false
	}
	return q, p, true
}

// handleEvents answers one page of matching rows as JSON (auditquery.Page).
func (v *viewer) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, p, ok := v.parse(w, r, v.cfg.MaxPageSize)
	if !ok {
		return
	}
	sn, ok := v.searcher(w)
	if !ok {
		return
	}
	pg, err := sn.Search(r.Context(), q, p)
	if err != nil {
		v.queryError(w, r, err)
		return
	}
	v.audit(r, eventQuery, "success", plog.SeverityNumberInfo, fmt.Sprintf("audit viewer query: %d matching events", pg.Total),
		map[string]any{"matches": int64(pg.Total)})
	writeJSON(w, http.StatusOK, pg)
}

// queryError answers a query the index could not run.
func (v *viewer) queryError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	v.set.Logger.Warn("Audit index query failed", zap.Error(err))
	w.Header().Set("Retry-After", "10")
	writeError(w, http.StatusServiceUnavailable, "the index cannot answer just now: "+err.Error())
}

// handleExport streams every matching row, newest first.
func (v *viewer) handleExport(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, _, ok := v.parse(w, r, 0)
		if !ok {
			return
		}
		sn, ok := v.searcher(w)
		if !ok {
			return
		}
		n, err := sn.Count(r.Context(), q)
		if err != nil {
			v.queryError(w, r, err)
			return
		}
		name := "audit-events-" + time.Now().UTC().Format("20060102T150405Z")
		w.Header().Set("X-Audit-Matches", strconv.Itoa(n))
		v.audit(r, eventDownload, "success", plog.SeverityNumberInfo, fmt.Sprintf("audit viewer download (%s): %d matching events", format, n),
			map[string]any{"matches": int64(n), "format": format})
		var out auditquery.Writer
		switch format {
		case auditquery.FormatCSV:
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			out, err = auditquery.NewCSVWriter(w)
		default:
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.jsonl"`)
			out = auditquery.NewJSONLWriter(w)
		}
		if err != nil || r.Method == http.MethodHead {
			// The client went away before the header row, or asked for
			// the headers only.
			return
		}
		err = sn.Export(r.Context(), q, format == auditquery.FormatJSONL, out.Write)
		if err == nil {
			err = out.Close()
		}
		if err != nil && r.Context().Err() == nil {
			// The status is sent: all that is left is to stop and say why.
			v.set.Logger.Warn("Export of audit events failed", zap.String("format", format), zap.Error(err))
			panic(http.ErrAbortHandler)
		}
	}
}

// handleLine answers one archive line in full: its row and the line
// itself, as the file holds it now.
func (v *viewer) handleLine(w http.ResponseWriter, r *http.Request) {
	file := r.URL.Query().Get("file")
	line, err := strconv.Atoi(r.URL.Query().Get("line"))
	if file == "" || err != nil {
		writeError(w, http.StatusBadRequest, "want file=NAME&line=N, as a row's file and line")
		return
	}
	sn, ok := v.searcher(w)
	if !ok {
		return
	}
	row, raw, err := sn.Line(r.Context(), file, line)
	v.audit(r, eventQuery, "success", plog.SeverityNumberInfo, fmt.Sprintf("audit viewer opened line %s:%d", file, line), nil)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Row  auditquery.Row `json:"row"`
		Line string         `json:"line"`
	}{row, string(raw)})
}

func (v *viewer) handleHints(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, auditquery.GetHints())
}

// handleStatus describes the archive and the index.
func (v *viewer) handleStatus(w http.ResponseWriter, _ *http.Request) {
	sn, ok := v.searcher(w)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Path string `json:"path"`
		auditquery.Stats
		MaxFieldBytes int `json:"max_field_bytes"`
		CountLimit    int `json:"count_limit"`
	}{v.cfg.Path, sn.Stats(), auditquery.MaxFieldBytes, auditquery.CountLimit})
}
