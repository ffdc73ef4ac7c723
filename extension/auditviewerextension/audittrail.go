package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
)

// The viewer's audit events (their event names, the SIEM's MSGID).
const (
	eventLoginFailed    = "viewer.login_failed"
	eventLoginThrottled = "viewer.login_throttled"
	eventQuery          = "viewer.query"
	eventDownload       = "viewer.download"
)

// audit records one use of the viewer as an audit event of source
// otelcol-audit: the auditself receiver (stream viewer) takes it into a
// pipeline, to the archive and the SIEM like any other audit event.
func (v *viewer) audit(r *http.Request, event, outcome string, sev plog.SeverityNumber, body string, extra map[string]any) {
	user, _, _ := r.BasicAuth()
	attrs := map[string]any{
		"audit.actor":          user,
		"audit.client_address": clientIP(r),
		"audit.action":         event,
		"audit.outcome":        outcome,
		"audit.category":       "security",
		"audit.filter":         r.URL.RawQuery,
		"url.path":             r.URL.Path,
		"user_agent.original":  r.UserAgent(),
	}
	for k, val := range extra {
		attrs[k] = val
	}
	rec := selfaudit.Record{Time: time.Now().UTC(), Event: event, Severity: sev, SeverityText: sevText(sev), Body: body, Attributes: attrs}
	if !selfaudit.Publish(selfaudit.StreamViewer, rec) && v.trailLost.CompareAndSwap(false, true) {
		v.set.Logger.Error("The viewer's audit trail is not recorded: no auditself receiver with stream: viewer takes it (see the viewer's README)")
	}
}

func sevText(s plog.SeverityNumber) string {
	if s >= plog.SeverityNumberWarn {
		return "WARN"
	}
	return "INFO"
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failedLogin records a request whose credentials were refused, and
// counts it against its client address. A request without credentials
// (a browser's first, which gets the password prompt) is no failed login.
func (v *viewer) failedLogin(r *http.Request, why string) {
	if r.Header.Get("Authorization") == "" {
		return
	}
	ip := clientIP(r)
	n, blocked := v.throttle.fail(ip)
	user, _, _ := r.BasicAuth()
	v.audit(r, eventLoginFailed, "failure", plog.SeverityNumberWarn,
		fmt.Sprintf("failed login to the audit viewer as %q from %s: %s", user, ip, why), nil)
	if blocked {
		v.audit(r, eventLoginThrottled, "failure", plog.SeverityNumberWarn,
			fmt.Sprintf("%d failed logins from %s within %s: logins from it are refused for %s", n, ip, v.cfg.LoginThrottle.Window, v.cfg.LoginThrottle.Window),
			map[string]any{"failed_logins": int64(n)})
		v.set.Logger.Warn("Throttling logins to the audit viewer", zap.String("client", ip), zap.Int("failed_logins", n))
	}
}

// throttleLogins answers 429 to requests with credentials from a client
// address with too many recent failed logins, before the authenticator
// sees them: a password cannot be guessed at speed.
func (v *viewer) throttleLogins(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			if wait := v.throttle.blockedFor(clientIP(r)); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins from this address: try again in %s", wait.Round(time.Second)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// loginThrottle counts failed logins per client address in a sliding
// window. Addresses are forgotten once their failures are older than it.
type loginThrottle struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time
}

func newLoginThrottle(limit int, window time.Duration) *loginThrottle {
	return &loginThrottle{limit: limit, window: window, now: time.Now, fails: map[string][]time.Time{}}
}

// recent drops failures older than the window; mu is held.
func (t *loginThrottle) recent(ip string, now time.Time) []time.Time {
	f := t.fails[ip]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= t.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(t.fails, ip)
	} else {
		t.fails[ip] = f
	}
	return f
}

// fail counts a failed login; blocked is true when it reaches the limit.
func (t *loginThrottle) fail(ip string) (n int, blocked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.fails) > 10000 { // many addresses: forget the stale ones
		for other := range t.fails {
			t.recent(other, now)
		}
	}
	f := append(t.recent(ip, now), now)
	t.fails[ip] = f
	return len(f), len(f) == t.limit
}

// blockedFor is how long the address must wait; 0: not blocked.
func (t *loginThrottle) blockedFor(ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.recent(ip, now)
	if len(f) < t.limit {
		return 0
	}
	return f[len(f)-t.limit].Add(t.window).Sub(now)
}
