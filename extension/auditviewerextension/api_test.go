package auditviewerextension

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/basicauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
)

// writeArchive writes n generated mixed-vendor events (through the real
// auditlog processor and archive writer) into dir, rotating and gzipping.
func writeArchive(t testing.TB, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	opts := archive.WriterOptions{Path: path, MaxSize: 256 << 10, Compress: true}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(11, time.Second), n, 100))
	return path
}

// host hands extensions (basicauth) to the viewer.
type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

type testViewer struct {
	*viewer
	base string
	user string
	pass string
	logs *observer.ObservedLogs
}

// startViewer starts the extension on 127.0.0.1:0 over path; with
// password set, behind the real basicauth extension (user "auditor").
func startViewer(t testing.TB, path, password string) *testViewer {
	t.Helper()
	if password == "" {
		return startViewerHtpasswd(t, path, "", "")
	}
	return startViewerHtpasswd(t, path, "auditor:"+password, password)
}

// startViewerHtpasswd starts the extension behind the real basicauth
// extension with htpasswd inline (none when empty); the test's requests
// carry user "auditor" and password.
func startViewerHtpasswd(t testing.TB, path, htpasswd, password string, opts ...func(*Config)) *testViewer {
	t.Helper()
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Path = path
	cfg.MaxPageSize = 5000
	for _, o := range opts {
		o(cfg)
	}
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{}}
	if htpasswd != "" {
		f := basicauthextension.NewFactory()
		acfg := f.CreateDefaultConfig().(*basicauthextension.Config)
		acfg.Htpasswd = &basicauthextension.HtpasswdSettings{Inline: htpasswd}
		id := component.MustNewIDWithName("basicauth", "viewer")
		ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), acfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(ctx, h))
		t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
		h.exts[id] = ext
		cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: id}})
	}
	require.NoError(t, cfg.Validate())
	set := extensiontest.NewNopSettings(metadata.Type)
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	ext, err := NewFactory().Create(ctx, set, cfg)
	require.NoError(t, err)
	// Tests compare answers with the archive as written: every request
	// waits for the build, however slow the machine.
	ext.(*viewer).requestWait = time.Hour
	require.NoError(t, ext.Start(ctx, h))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	v := ext.(*viewer)
	return &testViewer{viewer: v, base: "http://" + v.addr.String(), user: "auditor", pass: password, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (tv *testViewer) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tv.base+path, nil)
	require.NoError(t, err)
	if tv.pass != "" {
		req.SetBasicAuth(tv.user, tv.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, body}
}

func (tv *testViewer) page(t testing.TB, query string) auditquery.Page {
	t.Helper()
	r := tv.get(t, "/api/events?"+query)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var p auditquery.Page
	require.NoError(t, json.Unmarshal(r.body, &p))
	return p
}

// engineRows is what the shared engine answers for the same parameters.
func engineRows(t testing.TB, path, query string) []auditquery.Row {
	t.Helper()
	ix, err := auditquery.Open(path, auditquery.Options{})
	require.NoError(t, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	v, err := url.ParseQuery(query)
	require.NoError(t, err)
	q, _, err := auditquery.ParseQuery(v, auditquery.ParseOptions{})
	require.NoError(t, err)
	var rows []auditquery.Row
	sn.Each(q, func(r auditquery.Row) bool { rows = append(rows, r); return true })
	return rows
}

func rowTime(t testing.TB, r auditquery.Row) time.Time {
	ts, err := time.Parse(time.RFC3339Nano, r.Time)
	require.NoError(t, err)
	return ts
}

// Every filter and combinations of them, over HTTP: the rows are the
// engine's, newest first, and each satisfies the filter as a user reads it.
func TestAPIFilters(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 2500)
	tv := startViewer(t, path, "")
	since := auditquerytest.Start.Add(600 * time.Second)
	until := auditquerytest.Start.Add(1800 * time.Second)
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)

	type check func(t *testing.T, r auditquery.Row)
	source := func(s ...string) check {
		return func(t *testing.T, r auditquery.Row) { assert.Contains(t, s, r.Source) }
	}
	contains := func(field func(auditquery.Row) string, sub string) check {
		return func(t *testing.T, r auditquery.Row) {
			assert.Contains(t, strings.ToLower(field(r)), strings.ToLower(sub))
		}
	}
	resource := func(r auditquery.Row) string { return r.Resource }
	actor := func(r auditquery.Row) string { return r.Actor }
	action := func(a ...string) check {
		return func(t *testing.T, r auditquery.Row) { assert.Contains(t, a, r.Action) }
	}
	atLeast := func(l severity.Level) check {
		return func(t *testing.T, r auditquery.Row) {
			got, err := severity.Parse(r.Severity)
			require.NoError(t, err)
			assert.LessOrEqual(t, got, l, "level %s is at least %s", got, l)
		}
	}
	between := func(from, to time.Time) check {
		return func(t *testing.T, r auditquery.Row) {
			ts := rowTime(t, r)
			assert.False(t, ts.Before(from) || ts.After(to), "%s in [%s, %s]", ts, from, to)
		}
	}
	text := func(s string) check {
		return func(t *testing.T, r auditquery.Row) {
			all := strings.ToLower(strings.Join([]string{r.Source, r.Resource, r.Action, r.Actor, r.ClientAddress, r.Message}, "\x00"))
			assert.Contains(t, all, strings.ToLower(s))
		}
	}
	tests := []struct {
		name   string
		query  string
		min    int
		checks []check
	}{
		{"no filter", "", 2500, nil},
		{"source", "source=sippy", 300, []check{source("sippy")}},
		{"sources", "source=glassix,ctreplay", 1000, []check{source("glassix", "ctreplay")}},
		{"resource", "resource=accounts:", 30, []check{contains(resource, "accounts:")}},
		{"action", "action=AUTH_FAIL", 10, []check{action("AUTH_FAIL")}},
		{"actions with a wildcard", "action=MFA_*,LoginFailed", 20, []check{func(t *testing.T, r auditquery.Row) {
			assert.True(t, strings.HasPrefix(r.Action, "MFA_") || r.Action == "LoginFailed", r.Action)
		}}},
		{"actor", "actor=anna.rossi", 100, []check{contains(actor, "anna.rossi")}},
		{"severity at least", "severity=warning", 50, []check{atLeast(severity.Warning)}},
		{"severity exact", "severity=%3Dnotice", 50, []check{func(t *testing.T, r auditquery.Row) { assert.Equal(t, "notice", r.Severity) }}},
		{"text", "text=wave+form", 20, []check{text("wave form")}},
		{"since", "since=" + url.QueryEscape(since.Format(time.RFC3339Nano)), 1000, []check{between(since, time.Unix(1<<40, 0))}},
		{"until", "until=" + url.QueryEscape(until.Format(time.RFC3339Nano)), 1000, []check{between(time.Time{}, until)}},
		{"since and until as the page sends them", "since=2025-03-01T09:10&until=2025-03-01T09:30:59&tz=Europe/Rome", 200,
			[]check{between(time.Date(2025, 3, 1, 9, 10, 0, 0, rome), time.Date(2025, 3, 1, 9, 30, 59, 999999999, rome))}},
		{"action is a part of the name, for every vendor", "action=login", 20,
			[]check{action("LoginSucceeded", "LoginFailed", "LOGIN")}},
		{"source, action and resource", "source=sippy&action=%3DU,%3DA&resource=accounts", 5,
			[]check{source("sippy"), action("U", "A"), contains(resource, "accounts")}},
		{"actor, severity and time", "actor=main_admin&severity=notice&since=" + url.QueryEscape(since.Format(time.RFC3339)), 20,
			[]check{contains(actor, "main_admin"), atLeast(severity.Notice), between(since, time.Unix(1<<40, 0))}},
		{"all filters", "source=glassix&resource=example.com&action=User*&actor=a&severity=warning&text=locked&since=2025-03-01T08:00:00Z&until=2025-03-01T09:00:00Z", 1,
			[]check{source("glassix"), contains(resource, "example.com"), contains(actor, "a"), atLeast(severity.Warning), text("locked"),
				between(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 9, 0, 0, 999999999, time.UTC))}},
		{"nothing matches", "actor=nobody-at-all", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tv.page(t, tt.query+"&limit=5000")
			assert.Equal(t, len(p.Rows), p.Total)
			assert.GreaterOrEqual(t, p.Total, tt.min)
			want := engineRows(t, path, tt.query)
			require.Len(t, p.Rows, len(want))
			for i := range want {
				assert.Equal(t, want[i].File+fmt.Sprint(want[i].Line), p.Rows[i].File+fmt.Sprint(p.Rows[i].Line))
			}
			for i, r := range p.Rows {
				assert.Equal(t, "ok", r.Integrity)
				for _, c := range tt.checks {
					c(t, r)
				}
				if i > 0 {
					assert.False(t, rowTime(t, r).After(rowTime(t, p.Rows[i-1])), "newest first")
				}
			}
		})
	}
}

// Pages by number and by cursor cover the result exactly once.
func TestAPIPagination(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 700)
	tv := startViewer(t, path, "")
	all := tv.page(t, "source=sippy,ctreplay&limit=5000")
	require.Greater(t, all.Total, 300)
	place := func(rows []auditquery.Row) (out []string) {
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s:%d", r.File, r.Line))
		}
		return out
	}

	var byPage []string
	for n := 1; ; n++ {
		p := tv.page(t, fmt.Sprintf("source=sippy,ctreplay&limit=40&page=%d", n))
		assert.Equal(t, n, p.Page)
		assert.Equal(t, all.Total, p.Total)
		if len(p.Rows) == 0 {
			break
		}
		byPage = append(byPage, place(p.Rows)...)
	}
	assert.Equal(t, place(all.Rows), byPage)

	var byCursor []string
	cursor := ""
	for {
		p := tv.page(t, "source=sippy,ctreplay&limit=40&cursor="+cursor)
		byCursor = append(byCursor, place(p.Rows)...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	assert.Equal(t, place(all.Rows), byCursor)

	// The default page size applies without limit.
	assert.Len(t, tv.page(t, "").Rows, 50)
}

// archiveLines maps file:line to each line of the archive, as on disk.
func archiveLines(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		if !strings.Contains(name, ".jsonl") || strings.HasSuffix(name, ".head") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		var r io.Reader = f
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			require.NoError(t, err)
			r = zr
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			out[fmt.Sprintf("%s:%d", name, n)] = sc.Text()
		}
		f.Close()
	}
	return out
}

// CSV and JSON-lines downloads hold every filtered row, newest first; JSON
// lines are the archive's own bytes.
func TestAPIDownloads(t *testing.T) {
	dir := t.TempDir()
	path := writeArchive(t, dir, 1200)
	tv := startViewer(t, path, "")
	const filter = "source=sippy&severity=info&since=2025-03-01T08:05:00Z"
	want := tv.page(t, filter+"&limit=5000")
	require.Greater(t, want.Total, 100)

	r := tv.get(t, "/api/events.csv?"+filter)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
	assert.Regexp(t, `^attachment; filename="audit-events-\d{8}T\d{6}Z\.csv"$`, r.header.Get("Content-Disposition"))
	assert.Equal(t, fmt.Sprint(want.Total), r.header.Get("X-Audit-Matches"))
	records, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, auditquery.CSVHeader, records[0])
	require.Len(t, records, want.Total+1)
	for i, rec := range records[1:] {
		w := want.Rows[i]
		assert.Equal(t, []string{w.Time, w.Source, w.Resource, w.Action, w.Actor, w.ClientAddress, w.Severity, w.Message, "ok", "", "event", w.File, fmt.Sprint(w.Line), fmt.Sprint(w.Seq), "", ""}, rec)
	}

	r = tv.get(t, "/api/events.jsonl?"+filter)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	require.Len(t, lines, want.Total)
	onDisk := archiveLines(t, dir)
	for i, l := range lines {
		w := want.Rows[i]
		assert.Equal(t, onDisk[fmt.Sprintf("%s:%d", w.File, w.Line)], l, "line %d is the archive's own", i)
	}

	// Every row, unfiltered.
	r = tv.get(t, "/api/events.jsonl")
	assert.Equal(t, 1200, bytes.Count(r.body, []byte("\n")))
}

// A tampered line is marked in the page's JSON, the line view, the CSV and
// the JSON lines; the good lines beside it are untouched.
func TestAPITamperedLineIsMarked(t *testing.T) {
	dir := t.TempDir()
	path := writeArchive(t, dir, 300)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Greater(t, len(lines), 10)
	orig := lines[5]
	lines[5] = strings.Replace(orig, `"message":"`, `"message":"nothing to see: `, 1)
	require.NotEqual(t, orig, lines[5])
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	tv := startViewer(t, path, "")
	p := tv.page(t, "integrity=problems")
	require.Len(t, p.Rows, 1)
	bad := p.Rows[0]
	assert.Equal(t, "audit.jsonl", bad.File)
	assert.Equal(t, 6, bad.Line)
	assert.Equal(t, "modified", bad.Integrity)
	assert.Equal(t, "content does not match its hash", bad.IntegrityError)
	assert.Equal(t, 1, p.Archive.Problems)
	assert.Equal(t, 299, tv.page(t, "integrity=ok").Total)

	// In the unfiltered page too.
	found := false
	for _, r := range tv.page(t, "limit=1000").Rows {
		if r.File == "audit.jsonl" && r.Line == 6 {
			found = true
			assert.Equal(t, "modified", r.Integrity)
		}
	}
	assert.True(t, found)

	r := tv.get(t, "/api/line?file=audit.jsonl&line=6")
	require.Equal(t, http.StatusOK, r.status)
	var detail struct {
		Row  auditquery.Row
		Line string
	}
	require.NoError(t, json.Unmarshal(r.body, &detail))
	assert.Equal(t, "modified", detail.Row.Integrity)
	assert.Equal(t, lines[5], detail.Line)

	r = tv.get(t, "/api/events.csv?integrity=problems")
	records, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 2)
	assert.Equal(t, "modified", records[1][8])
	assert.Equal(t, "content does not match its hash", records[1][9])

	r = tv.get(t, "/api/events.jsonl?text=nothing+to+see")
	var flagged struct {
		Integrity, IntegrityError, File, Raw string
		Line                                 int
	}
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(r.body), &flagged))
	assert.Equal(t, "modified", flagged.Integrity)
	assert.Equal(t, 6, flagged.Line)
	assert.Equal(t, lines[5], flagged.Raw, "the line as found, so it can be examined")
}

// Bad requests get 400 and say what is wrong with which parameter; the
// API is read-only.
func TestAPIBadRequests(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 50)
	tv := startViewer(t, path, "")
	tests := []struct {
		path, want string
		status     int
	}{
		{"/api/events?severity=loud&since=yesterday", `severity: unknown severity \"loud\"`, 400},
		{"/api/events?since=yesterday", `since: \"yesterday\": want RFC 3339`, 400},
		{"/api/events?limit=6000", "limit: 6000 is more than the maximum page size 5000", 400},
		{"/api/events?page=0", `page: \"0\": want a whole number of at least 1`, 400},
		{"/api/events?cursor=zzz", "cursor: not a cursor", 400},
		{"/api/events?tz=Nowhere/Else&since=2024-01-01T00:00", `tz: unknown time zone \"Nowhere/Else\"`, 400},
		{"/api/events.csv?integrity=perhaps", `integrity: \"perhaps\": want ok, problems or all`, 400},
		{"/api/line?file=audit.jsonl", "want file=NAME\\u0026line=N", 400},
		{"/api/line?file=other.jsonl&line=1", `no file \"other.jsonl\" in the archive`, 404},
		{"/api/line?file=audit.jsonl&line=999", "audit.jsonl has 50 lines, no line 999", 404},
		{"/nothing-here", "404 page not found", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := tv.get(t, tt.path)
			assert.Equal(t, tt.status, r.status)
			assert.Contains(t, string(r.body), tt.want)
		})
	}

	req, err := http.NewRequest(http.MethodPost, tv.base+"/api/events", strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

// With the real basicauth extension, nothing (page, API, downloads) is
// served without the right credentials, and a browser is asked for them.
func TestBasicAuth(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 50)
	// Not throttled: this test fails many logins on purpose.
	tv := startViewerHtpasswd(t, path, "auditor:s3cret-viewer", "s3cret-viewer", func(c *Config) { c.LoginThrottle.MaxFailures = 1000 })
	for _, p := range []string{"/", "/app.js", "/api/events", "/api/events.csv", "/api/hints"} {
		t.Run(p, func(t *testing.T) {
			for _, creds := range []struct{ user, pass string }{{"", ""}, {"auditor", "wrong"}, {"intruder", "s3cret-viewer"}} {
				req, err := http.NewRequest(http.MethodGet, tv.base+p, nil)
				require.NoError(t, err)
				if creds.user != "" {
					req.SetBasicAuth(creds.user, creds.pass)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%+v", creds)
				assert.Equal(t, `Basic realm="otelcol-audit viewer", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))
				assert.NotContains(t, string(body), "sippy")
			}
			assert.Equal(t, http.StatusOK, tv.get(t, p).status)
		})
	}
}

// The shipped collector.yaml's htpasswd is "auditor:${env:VIEWER_PASSWORD}":
// with the variable unset it is "auditor:", which basicauth accepts with
// an empty password. The viewer refuses empty passwords itself.
func TestEmptyPasswordIsRefused(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 5)
	tv := startViewerHtpasswd(t, path, "auditor:", "")
	for _, p := range []string{"/", "/api/events", "/api/events.csv"} {
		req, err := http.NewRequest(http.MethodGet, tv.base+p, nil)
		require.NoError(t, err)
		req.SetBasicAuth("auditor", "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		assert.Contains(t, string(body), "empty password", p)
		assert.Contains(t, string(body), "VIEWER_PASSWORD", p)
		assert.NotContains(t, string(body), "sippy", p)
		assert.Equal(t, `Basic realm="otelcol-audit viewer", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))
	}
}

// With the password empty (VIEWER_PASSWORD unset in the shipped config),
// the viewer says at start that nobody can log in, and why; with a
// password, it says nothing of the kind. It depends on its authenticator,
// so the collector starts that first.
func TestEmptyPasswordIsLoggedAtStart(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 5)
	empty := startViewerHtpasswd(t, path, "auditor:", "")
	lines := empty.logs.FilterMessageSnippet("password is empty, so nobody can log in").All()
	require.Len(t, lines, 1)
	assert.Equal(t, zap.ErrorLevel, lines[0].Level)
	assert.Contains(t, lines[0].Message, "VIEWER_PASSWORD")

	set := startViewer(t, path, "s3cret")
	assert.Zero(t, set.logs.FilterMessageSnippet("password is empty").Len())
	assert.Equal(t, []component.ID{component.MustNewIDWithName("basicauth", "viewer")}, set.viewer.Dependencies())
}

func TestAPIHintsAndHeaders(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 20)
	tv := startViewer(t, path, "")
	r := tv.get(t, "/api/hints")
	require.Equal(t, http.StatusOK, r.status)
	var h auditquery.Hints
	require.NoError(t, json.Unmarshal(r.body, &h))
	require.Len(t, h.SippyActions, len(sippy.All()))
	assert.Equal(t, auditquery.ActionHint{Code: "AUTH_FAIL", Description: "Bad auth", Resource: "customer|account|vendor:username|email=value"}, h.SippyActions[5])
	cols := map[string]string{}
	for _, c := range h.Columns {
		cols[c.Title] = c.Hint
	}
	for _, title := range []string{"Date", "Source", "Resource", "Action", "Action by", "User IP/Node", "Severity", "Message"} {
		assert.NotEmpty(t, cols[title], title)
	}
	assert.Contains(t, cols["Resource"], "audit.target")
	assert.Contains(t, h.SippyActor, "u = web user")

	for _, p := range []string{"/", "/api/events", "/api/status"} {
		r := tv.get(t, p)
		assert.Equal(t, http.StatusOK, r.status, p)
		assert.Contains(t, r.header.Get("Content-Security-Policy"), "script-src 'self'", p)
		assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), p)
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"), p)
	}
	var st struct {
		Lines, Files int
		Path         string
	}
	require.NoError(t, json.Unmarshal(tv.get(t, "/api/status").body, &st))
	assert.Equal(t, 20, st.Lines)
	assert.Equal(t, path, st.Path)
}

// Hostile values come back as data: HTML stays escaped in JSON, formulas
// are defused in CSV, and an oversized message is cut for the table but
// whole in the downloads.
func TestAPIHostileValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	w, err := archive.OpenWriter(archive.WriterOptions{Path: path})
	require.NoError(t, err)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceCTReplay)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(auditquerytest.Start))
	lr.SetEventName("SEARCH Recording")
	big := strings.Repeat("A", 100_000)
	lr.Body().SetStr(`<script>alert(1)</script> ` + big)
	lr.Attributes().PutStr(auditrecord.AttrActor, "=HYPERLINK(\"http://evil\")")
	lr.Attributes().PutStr(auditrecord.AttrTarget, "line1\nline2\ttab")
	require.NoError(t, w.Write(context.Background(), archive.EncodeLogs(ld)))
	require.NoError(t, w.Close())

	tv := startViewer(t, path, "")
	r := tv.get(t, "/api/events")
	assert.NotContains(t, string(r.body), "<script>")
	var p auditquery.Page
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Len(t, p.Rows, 1)
	row := p.Rows[0]
	assert.True(t, row.Truncated)
	assert.Len(t, row.Message, auditquery.MaxFieldBytes)
	assert.True(t, strings.HasPrefix(row.Message, "<script>"))
	assert.Equal(t, "line1\nline2\ttab", row.Resource)

	r = tv.get(t, "/api/events.csv")
	records, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 2)
	assert.Equal(t, `'=HYPERLINK("http://evil")`, records[1][4], "a formula is defused")
	assert.Equal(t, `<script>alert(1)</script> `+big, records[1][7], "the whole message")
	assert.Equal(t, "line1\nline2\ttab", records[1][2])
}

// HEAD answers a download's headers without reading the archive's lines.
func TestAPIHeadDownload(t *testing.T) {
	path := writeArchive(t, t.TempDir(), 30)
	tv := startViewer(t, path, "")
	resp, err := http.Head(tv.base + "/api/events.jsonl?source=sippy")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	assert.Equal(t, fmt.Sprint(len(engineRows(t, path, "source=sippy"))), resp.Header.Get("X-Audit-Matches"))
}
