package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
)

// activeRecheck is how often the active file is read again from its start,
// so that a line changed in place (not appended) is found and marked even
// when the change did not move the lines after it.
const activeRecheck = time.Minute

// backgroundRefresh is how often the index is brought up to date between
// requests (a request also brings it up to date, unless a refresh is
// already running).
const backgroundRefresh = 5 * time.Second

// errNoArchive: the archive cannot be found (yet).
var errNoArchive = errors.New("no archive")

// errIndexUnavailable: the shared index's database cannot be reached.
var errIndexUnavailable = errors.New("the shared index is unavailable")

// pg is the shared index's configuration, nil for the SQLite file.
func (v *viewer) pg() *PostgresIndexConfig {
	if !v.cfg.Index.Postgres.HasValue() {
		return nil
	}
	return v.cfg.Index.Postgres.Get()
}

// viewer is the extension: an HTTP server over an index of the archive.
type viewer struct {
	cfg *Config
	set extension.Settings

	server *http.Server
	addr   net.Addr
	wg     sync.WaitGroup

	// ctx bounds index work; it ends at Shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	index *auditquery.DiskIndex // nil until the archive exists

	// requestWait bounds how long a request waits for a running refresh.
	requestWait time.Duration
	// refreshEvery is backgroundRefresh (tests change it).
	refreshEvery time.Duration

	throttle  *loginThrottle
	trailLost atomic.Bool // logged once

	verifyMu sync.Mutex
	verified *integrityReport // the newest background check; nil before the first
}

// defaultRequestWait: a refresh that only reads what was appended takes
// milliseconds; one that takes longer is a build, which a request does not
// wait for.
const defaultRequestWait = 2 * time.Second

func newViewer(cfg *Config, set extension.Settings) *viewer {
	return &viewer{cfg: cfg, set: set, requestWait: defaultRequestWait, refreshEvery: backgroundRefresh, throttle: newLoginThrottle(cfg.LoginThrottle.MaxFailures, cfg.LoginThrottle.Window)}
}

// Start listens, serves in the background and starts indexing the archive
// so that the first query finds the index built.
func (v *viewer) Start(ctx context.Context, host component.Host) error {
	v.ctx, v.cancel = context.WithCancel(context.Background())
	// ToServer fills defaults into the config it is called on: use a copy.
	sc := v.cfg.ServerConfig
	handler := v.routes()
	server, err := sc.ToServer(ctx, host.GetExtensions(), v.set.TelemetrySettings, handler,
		confighttp.WithErrorHandler(v.serverError))
	if err != nil {
		return err
	}
	ln, err := sc.ToListener(ctx)
	if err != nil {
		return err
	}
	// Throttling comes before the authenticator ToServer put in.
	server.Handler = v.throttleLogins(server.Handler)
	v.server, v.addr = server, ln.Addr()
	if a := sc.Auth.Get(); a != nil {
		v.warnIfEmptyPassword(ctx, host, a.Config.AuthenticatorID)
	} else {
		v.set.Logger.Warn("auth is not set: anyone who can reach the endpoint can read the audit archive; configure auth (e.g. basicauth) unless the endpoint is only reachable by administrators",
			zap.String("endpoint", ln.Addr().String()))
	}
	v.set.Logger.Info("Serving the audit viewer", zap.String("endpoint", ln.Addr().String()), zap.String("path", v.cfg.Path))

	v.wg.Add(3)
	go func() {
		defer v.wg.Done()
		v.keepVerified()
	}()
	go func() {
		defer v.wg.Done()
		if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	go func() {
		defer v.wg.Done()
		v.keepIndexed()
	}()
	return nil
}

// defaultUser is the viewer's user in the shipped collector.yaml and the
// README.
const defaultUser = "auditor"

// Dependencies makes the collector start the authenticator before the
// viewer (extensions otherwise start in no set order), so that Start can
// ask it about the default user's password.
func (v *viewer) Dependencies() []component.ID {
	if a := v.cfg.Auth.Get(); a != nil {
		return []component.ID{a.Config.AuthenticatorID}
	}
	return nil
}

// warnIfEmptyPassword says at start, in so many words, that nobody can log
// in when the authenticator accepts the default user with an empty
// password: the shipped htpasswd is "auditor:${env:VIEWER_PASSWORD}", and
// with the variable unset the collector only warns that a variable is
// unset, while the viewer refuses every empty password.
func (v *viewer) warnIfEmptyPassword(ctx context.Context, host component.Host, id component.ID) {
	auth, ok := host.GetExtensions()[id].(extensionauth.Server)
	if !ok {
		return
	}
	defer func() { _ = recover() }() // an authenticator not ready to answer: nothing to say
	header := map[string][]string{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(defaultUser+":"))}}
	if _, err := auth.Authenticate(ctx, header); err == nil {
		v.set.Logger.Error("The audit viewer's password is empty, so nobody can log in: the viewer refuses empty passwords. "+
			"Set it (in the shipped collector.yaml, the VIEWER_PASSWORD environment variable) and restart the collector",
			zap.String("user", defaultUser), zap.String("authenticator", id.String()))
	}
}

// keepIndexed builds the index at start, so that the first query finds it
// built, then keeps it up to date in the background, so that requests
// rarely wait for new lines or for the periodic full check of the active
// file.
func (v *viewer) keepIndexed() {
	start := time.Now()
	ix, err := v.refresh(true)
	switch {
	case err == nil:
		st := ix.Stats()
		v.set.Logger.Info("Indexed the audit archive", zap.Int("files", st.Files), zap.Int("lines", st.Lines),
			zap.Int("lines_read", st.LinesRead), zap.Int("integrity_problems", st.Problems), zap.Duration("took", time.Since(start)))
	case v.ctx.Err() == nil:
		// Not fatal: the archive may not exist until the exporter's first write.
		v.set.Logger.Warn("Cannot index the audit archive yet; retrying", zap.Error(err))
	}
	if pg := v.pg(); pg != nil {
		v.followShared(pg, err)
		return
	}
	tick := time.NewTicker(v.refreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-v.wake():
			// Lines wait in the handoff: take them before it fills.
		case <-tick.C:
		}
		if _, err := v.refresh(true); err != nil && v.ctx.Err() == nil {
			v.set.Logger.Debug("Cannot refresh the audit archive's index", zap.Error(err))
		}
	}
}

// followShared keeps the shared index up to date: every refresh_interval
// while the database answers; while it does not, attempts back off
// (doubling up to max_retry_interval) and the index catches up when it
// returns. Delivery never waits for any of this: the archive is written
// by the exporter, the index follows it.
func (v *viewer) followShared(pg *PostgresIndexConfig, err error) {
	wait, failing := pg.RefreshInterval, err != nil
	for {
		if failing {
			wait = min(wait*2, pg.MaxRetryInterval)
		} else {
			wait = pg.RefreshInterval
		}
		t := time.NewTimer(wait)
		var wake <-chan struct{}
		if !failing {
			wake = v.wake()
		}
		select {
		case <-v.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-wake:
			t.Stop()
		}
		_, err := v.refresh(true)
		switch {
		case v.ctx.Err() != nil:
			return
		case err != nil && !failing:
			v.set.Logger.Warn("Cannot bring the shared index up to date; retrying with back-off (delivery and the archive are not affected)", zap.Error(err))
		case err == nil && failing:
			v.set.Logger.Info("The shared index is up to date again")
		}
		failing = err != nil
	}
}

// wake receives when the archive's writer in this process has handed the
// index enough lines that it should take them now (see
// auditquery.DiskIndex.Wake).
func (v *viewer) wake() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.index == nil {
		return nil
	}
	return v.index.Wake()
}

// Shutdown stops serving, abandons indexing, waits for both and closes
// the index.
func (v *viewer) Shutdown(ctx context.Context) error {
	if v.cancel != nil {
		v.cancel()
	}
	var err error
	if v.server != nil {
		if err = v.server.Shutdown(ctx); err != nil {
			err = errors.Join(err, v.server.Close())
		}
	}
	v.wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.index != nil {
		err = errors.Join(err, v.index.Close())
		v.index = nil
	}
	return err
}

// refresh brings the index up to date (opening it once the archive
// exists) and returns it. With wait unset (a request), it waits at most
// requestWait for a refresh already running (a first build of a large
// archive takes minutes): the request is then answered from what is
// indexed so far.
func (v *viewer) refresh(wait bool) (*auditquery.DiskIndex, error) {
	v.mu.Lock()
	ix := v.index
	if ix == nil {
		if v.ctx.Err() != nil {
			v.mu.Unlock()
			return nil, v.ctx.Err()
		}
		l, err := archive.Discover(v.cfg.Path)
		if err != nil {
			v.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", errNoArchive, err)
		}
		if pg := v.pg(); pg != nil {
			db, err := pgindex.New(pgindex.Options{DSN: string(pg.DSN), ConnectTimeout: pg.ConnectTimeout, MaxConns: pg.MaxConns})
			if err == nil {
				ix, err = auditquery.OpenDisk(v.ctx, v.cfg.Path, db,
					auditquery.DiskOptions{HMACKey: []byte(v.cfg.HMACKey), RecheckActive: activeRecheck, Collector: pg.CollectorName,
						// Smaller transactions than SQLite's 20 000 rows: the rows wait in
						// memory until COPY, and a peak of load should not grow the heap.
						BatchRows: 5000})
			}
			if err != nil {
				v.mu.Unlock()
				return nil, fmt.Errorf("%w: %w", errIndexUnavailable, err)
			}
		} else {
			path := v.cfg.IndexPath
			if path == "" {
				path = sqliteindex.DefaultPath(l.ActivePath())
			}
			ix, err = auditquery.OpenDisk(v.ctx, v.cfg.Path, sqliteindex.New(path, sqliteindex.Options{CacheMiB: v.cfg.IndexCacheMiB}),
				auditquery.DiskOptions{HMACKey: []byte(v.cfg.HMACKey), RecheckActive: activeRecheck})
			if err != nil {
				v.mu.Unlock()
				return nil, fmt.Errorf("opening the index %s: %w", path, err)
			}
		}
		v.index = ix
	}
	v.mu.Unlock()
	if !wait && v.pg() != nil {
		// The shared index is kept up to date in the background only: a
		// request answers from what is committed, whether or not the
		// database can be written just now (Stats says when it is behind).
		return ix, nil
	}
	// Refresh on the extension's context, not the request's: a client
	// that goes away must not throw away index work others will need.
	if wait {
		return ix, ix.Refresh(v.ctx)
	}
	return ix, ix.RefreshWithin(v.ctx, v.requestWait)
}
