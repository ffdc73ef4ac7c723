package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confighttp/xconfighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/coalesce"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/inflight"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

// route is one vendor's endpoint.
type route struct {
	source string
	// expects describes a valid body, for error messages.
	expects string
	parse   func(body []byte, opts vendors.Options, out plog.LogRecordSlice) vendors.Result
	// verifier checks signatures; nil accepts unsigned requests.
	verifier *glassix.Verifier
	// submitter hands the records to the pipeline, combining concurrent
	// requests and splitting large ones.
	submitter *coalesce.Submitter

	attrs, forwardedAttrs, droppedAttrs metric.MeasurementOption
}

type auditReceiver struct {
	cfg     *Config
	set     receiver.Settings
	next    consumer.Logs
	obsrecv *receiverhelper.ObsReport
	tb      *metadata.TelemetryBuilder
	routes  map[string]*route
	// inflight bounds the request bodies held at once.
	inflight *inflight.Limiter

	// Set by Start.
	server    *http.Server
	addr      net.Addr
	maxBody   int64
	encodings []string
	wg        sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*auditReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &auditReceiver{
		cfg: cfg, set: set, next: next, obsrecv: obsrecv, tb: tb, routes: map[string]*route{},
		inflight: inflight.New(cfg.MaxInFlightBytes),
	}

	if g := cfg.Glassix.Get(); g != nil {
		rt := r.newRoute(auditrecord.SourceGlassix, "a Glassix webhook envelope {key, dateTime, changes}",
			glassix.Parser{ForwardEvents: g.ForwardEvents}.Parse)
		if g.Secret != "" {
			rt.verifier = &glassix.Verifier{
				Secret:              []byte(g.Secret),
				MaxClockSkew:        g.MaxClockSkew,
				AcceptDateSignature: g.AcceptDateSignature,
			}
		}
		r.routes[g.Path] = rt
	}
	if c := cfg.CTReplay.Get(); c != nil {
		loc, err := vendors.LoadTimezone(c.Timezone)
		if err != nil {
			return nil, err
		}
		order, err := ctreplay.ParseDateOrder(c.DateOrder)
		if err != nil {
			return nil, err
		}
		p := ctreplay.Parser{Options: ctreplay.Options{DateOrder: order, Location: loc}}
		r.routes[c.Path] = r.newRoute(auditrecord.SourceCTReplay, "CTReplay events: a JSON object, an array or JSON lines", p.Parse)
	}
	if s := cfg.Sippy.Get(); s != nil {
		loc, err := vendors.LoadTimezone(s.Timezone)
		if err != nil {
			return nil, err
		}
		p := sippy.Parser{Location: loc}
		r.routes[s.Path] = r.newRoute(auditrecord.SourceSippy, "Sippy audit records: a JSON object, an array or JSON lines", p.Parse)
	}
	return r, nil
}

func (r *auditReceiver) newRoute(source, expects string, parse func([]byte, vendors.Options, plog.LogRecordSlice) vendors.Result) *route {
	id := attribute.String("receiver", r.set.ID.String())
	src := attribute.String("source", source)
	return &route{
		source:         source,
		expects:        expects,
		parse:          parse,
		submitter:      r.newSubmitter(source),
		attrs:          metric.WithAttributeSet(attribute.NewSet(id, src)),
		forwardedAttrs: metric.WithAttributeSet(attribute.NewSet(id, src, attribute.Bool("forwarded", true))),
		droppedAttrs:   metric.WithAttributeSet(attribute.NewSet(id, src, attribute.Bool("forwarded", false))),
	}
}

// newSubmitter combines concurrent requests into pipeline calls of up to
// maxCallRecords records and max_request_body_size bytes of bodies, unless
// include_metadata asks for each request's headers downstream: a combined
// call carries one request's context only.
func (r *auditReceiver) newSubmitter(source string) *coalesce.Submitter {
	if r.cfg.IncludeMetadata {
		return coalesce.NewAlone(r.consumeFunc(source), r.newLogsFunc(source), maxCallRecords, r.cfg.AcceptTimeout)
	}
	return coalesce.New(r.consumeFunc(source), r.newLogsFunc(source), maxCallRecords, effectiveMaxBody(r.cfg.MaxRequestBodySize), pipelineCalls, r.cfg.AcceptTimeout)
}

// pipelineCalls is how many calls of one source may be in the pipeline at
// once. With one, the receiver's core idled while a call waited (the
// auditlog processor's dedup::shared lookup, a round trip to PostgreSQL)
// and the webhooks arriving meanwhile could only wait for the next call;
// with two, the next call runs meanwhile. Measured (bench/README.md,
// What was tried): in process at 1 event per request in memory 19 336 -
// 19 501 events/s against 17 636 - 17 702 with one; in the pinned load
// harness with the shared index and dedup::shared 26 585 - 27 370
// against 25 350 - 25 960. Four measured no better than two. Requests
// arriving while both are busy still go together in the next call.
const pipelineCalls = 2

// maxCallRecords bounds the records of one pipeline call. A sending queue
// sized in records must hold at least this many (the exporters' defaults
// hold 5000), or the larger calls are never accepted.
const maxCallRecords = 1000

// consumeFunc passes one call's records to the pipeline, as one
// receiver operation.
func (r *auditReceiver) consumeFunc(source string) coalesce.ConsumeFunc {
	return func(ctx context.Context, ld plog.Logs, n int) error {
		ctx = r.obsrecv.StartLogsOp(ctx)
		err := r.next.ConsumeLogs(ctx, ld)
		r.obsrecv.EndLogsOp(ctx, source, n, err)
		return err
	}
}

// newLogsFunc makes a call's logs: one resource for the source, one scope.
func (r *auditReceiver) newLogsFunc(source string) coalesce.NewLogsFunc {
	return func() (plog.Logs, plog.LogRecordSlice) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(auditrecord.AttrSource, source)
		rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, source)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(metadata.ScopeName)
		sl.Scope().SetVersion(r.set.BuildInfo.Version)
		return ld, sl.LogRecords()
	}
}

// Start listens and serves in the background.
func (r *auditReceiver) Start(ctx context.Context, host component.Host) error {
	if g := r.cfg.Glassix.Get(); g != nil && g.Secret == "" {
		r.set.Logger.Warn("glassix::secret is not set: Glassix webhooks are accepted without signature verification; set it (e.g. ${env:GLASSIX_API_SECRET}) to refuse forged requests",
			zap.String("path", g.Path))
	}
	// ToServer fills defaults into the config it is called on: use a copy.
	sc := r.cfg.ServerConfig
	server, err := sc.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, r,
		confighttp.WithErrorHandler(r.serverError),
		// Some clients name the absence of compression explicitly.
		confighttp.WithDecoder("identity", func(io.ReadCloser) (io.ReadCloser, error) { return nil, nil }),
		xconfighttp.WithOtelHTTPOptions(otelhttp.WithFilter(func(*http.Request) bool { return r.cfg.HTTPInstrumentation })),
	)
	if err != nil {
		return err
	}
	r.maxBody = sc.MaxRequestBodySize
	r.encodings = append(slices.DeleteFunc(slices.Clone(sc.CompressionAlgorithms), func(s string) bool { return s == "" }), "identity")

	ln, err := sc.ToListener(ctx)
	if err != nil {
		return err
	}
	r.server = server
	r.addr = ln.Addr()
	paths := make([]string, 0, len(r.routes))
	for p, rt := range r.routes {
		paths = append(paths, rt.source+"="+p)
	}
	slices.Sort(paths)
	r.set.Logger.Info("Listening for audit webhooks", zap.String("endpoint", ln.Addr().String()), zap.Strings("paths", paths))

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// Shutdown stops listening and waits for requests in flight.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		if err = r.server.Shutdown(ctx); err != nil {
			err = errors.Join(err, r.server.Close())
		}
	}
	r.wg.Wait()
	return err
}

// ServeHTTP routes by exact path.
func (r *auditReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if rt, ok := r.routes[req.URL.Path]; ok {
		r.handleEvents(w, req, rt)
		return
	}
	if r.cfg.HealthPath != "" && req.URL.Path == r.cfg.HealthPath {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed on the health path: use GET")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	writeError(w, http.StatusNotFound, "no audit source is served at "+req.URL.Path)
}

// serverError answers the errors confighttp detects before our handler:
// failed authentication and undecodable bodies. confighttp answers 400 to
// an unknown Content-Encoding; that is 415 (RFC 9110, section 15.5.16).
func (r *auditReceiver) serverError(w http.ResponseWriter, req *http.Request, msg string, status int) {
	if status == http.StatusBadRequest {
		if enc := req.Header.Get("Content-Encoding"); enc != "" && !slices.Contains(r.encodings, enc) {
			w.Header().Set("Accept-Encoding", strings.Join(r.encodings, ", "))
			writeError(w, http.StatusUnsupportedMediaType,
				"unsupported Content-Encoding "+quote(enc)+": use one of "+strings.Join(r.encodings, ", ")+" or none")
			return
		}
		msg = "cannot decode the request body: " + msg
	}
	writeError(w, status, msg)
}
