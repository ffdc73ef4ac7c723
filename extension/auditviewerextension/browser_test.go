package auditviewerextension

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
)

// screenshotDirEnv names a directory the browser test also saves its
// screenshots to (they always go to the test's temporary directory).
const screenshotDirEnv = "AUDITVIEWER_SCREENSHOT_DIR"

// chromiumPath finds Debian's chromium, or skips (fails under
// OTELCOL_AUDIT_REQUIRE_SERVERS=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	archivetest.SkipOrFail(t, "no chromium on PATH (Debian package chromium)")
	return ""
}

// pageRow is one table row as the browser shows it.
type pageRow struct {
	Cells  []string `json:"cells"`
	Titles []string `json:"titles"`
	Class  string   `json:"class"`
}

const readRows = `Array.from(document.querySelectorAll('#events tbody tr')).map(tr => ({
	cells: Array.from(tr.cells).map(td => td.textContent),
	titles: Array.from(tr.cells).map(td => td.title),
	class: tr.className}))`

// The real page in headless Chromium, behind basic auth: it lists the
// newest events with a tampered line marked, applies filters, shows the
// rows the API gives, hints the Sippy action codes, switches between the
// browser's zone and UTC, downloads the filtered rows as CSV, and is
// photographed.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	path := writeArchive(t, dir, 800)
	tv := startViewer(t, path, "browser-s3cret")

	// Tamper with the newest line, so the first screen shows it marked.
	newest := tv.page(t, "limit=1").Rows[0]
	require.Equal(t, "audit.jsonl", newest.File)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	lines[newest.Line-1] = strings.Replace(lines[newest.Line-1], `"message":"`, `"message":"(edited) `, 1)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	shots := t.TempDir()
	downloads := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
		// A zone with a half-hour offset and no DST: local times are
		// unmistakably not UTC.
		chromedp.Env("TZ=Asia/Kolkata"),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// Answer the page's basic-auth challenge as a user at the browser's
	// password prompt would; the browser then sends the credentials with
	// every request to the viewer, downloads included.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancelBrowser()
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	challenged := chromedp.Events(bctx, fetch.AuthRequired)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	var challenges atomic.Int32
	go func() {
		defer wg.Done()
		for ev, err := range challenged {
			if err != nil {
				return
			}
			challenges.Add(1)
			_, _ = chromedp.Call(bctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: tv.user, Password: tv.pass}})
		}
	}()
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			handle := true
			_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle})
			return err
		}),
		chromedp.Navigate(tv.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#events tbody td.time")),
	))

	rows := func() []pageRow {
		r, err := chromedp.Run(bctx, chromedp.Evaluate[[]pageRow](readRows))
		require.NoError(t, err)
		return r
	}
	// waitRows polls until the table shows what ok accepts.
	waitRows := func(ok func([]pageRow) bool) []pageRow {
		var got []pageRow
		require.Eventually(t, func() bool { got = rows(); return ok(got) }, time.Minute, 100*time.Millisecond, "rows: %v", got)
		return got
	}
	shoot := func(name string) {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), png, 0o600))
		if d := os.Getenv(screenshotDirEnv); d != "" {
			require.NoError(t, os.MkdirAll(d, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, name), png, 0o644))
		}
	}

	// First screen: the newest events, the tampered one first and marked.
	first := waitRows(func(r []pageRow) bool { return len(r) == 50 })
	assert.Contains(t, first[0].Class, "flagged")
	assert.Equal(t, "\u26a0", first[0].Cells[0])
	assert.Contains(t, first[0].Titles[0], "Integrity modified: content does not match its hash")
	for _, r := range first[1:] {
		assert.NotContains(t, r.Class, "flagged")
	}
	banner, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#problems-banner")))
	require.NoError(t, err)
	assert.Contains(t, banner, "1 line(s) of the archive failed their integrity check")
	shoot("auditviewer-all.png")

	// Apply filters: Sippy table edits and logins by main_admin.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`select[name=source]`), "sippy"),
		chromedp.SetValue(chromedp.CSS(`input[name=action]`), "=U,=A,AUTH_*"),
		chromedp.SetValue(chromedp.CSS(`input[name=actor]`), "main_admin"),
		chromedp.Click(chromedp.CSS("#apply")),
	))
	const filter = "source=sippy&action=%3DU,%3DA,AUTH_*&actor=main_admin"
	want := tv.page(t, filter+"&limit=50")
	require.NotEmpty(t, want.Rows)
	got := waitRows(func(r []pageRow) bool {
		return len(r) == len(want.Rows) && len(r[0].Cells) == 9 && r[0].Cells[2] == "sippy" && strings.Contains(r[0].Cells[5], "main_admin")
	})
	for i, r := range got {
		w := want.Rows[i]
		assert.Equal(t, []string{"", w.Source, w.Resource, w.Action, w.Actor, w.ClientAddress, w.Severity, w.Message}, append([]string{r.Cells[0]}, r.Cells[2:]...), "row %d", i)
		// A hint per Sippy action code, from the vendor's table.
		a, ok := sippy.Lookup(w.Action)
		require.True(t, ok, w.Action)
		assert.Equal(t, fmt.Sprintf("%s: %s. Resource syntax: %s", a.Code, a.Description, a.Syntax), r.Titles[4])
		assert.Contains(t, r.Titles[5], "u = web user", "the Action by hint")
		// The browser's zone (Asia/Kolkata, +05:30).
		ts, err := time.Parse(time.RFC3339Nano, w.Time)
		require.NoError(t, err)
		kolkata := time.FixedZone("IST", 5*3600+1800)
		assert.Equal(t, ts.In(kolkata).Format("2006-01-02 15:04:05.000 -07:00"), r.Cells[1])
	}
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#page-info")))
	require.NoError(t, err)
	assert.Contains(t, status, fmt.Sprintf("%d matching events", want.Total))
	assert.Contains(t, status, "Page 1 of")
	hint, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`th[data-col=resource]`), "title"))
	require.NoError(t, err)
	assert.Contains(t, hint.Value, "WHERE the event happened")
	shoot("auditviewer-filtered.png")

	// UTC: the same rows, times with every digit in UTC.
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#utc"))))
	utc := waitRows(func(r []pageRow) bool { return len(r) > 0 && strings.HasSuffix(r[0].Cells[1], " UTC") })
	assert.Equal(t, strings.Replace(strings.Replace(want.Rows[0].Time, "T", " ", 1), "Z", " UTC", 1), utc[0].Cells[1])

	// A click on a row shows its archive line, as the file holds it.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#events tbody tr:first-child td.message")),
		chromedp.WaitVisible(chromedp.CSS("#detail")),
	))
	var detail string
	require.Eventually(t, func() bool {
		detail, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#detail-line")))
		return err == nil && strings.Contains(detail, `"seq":`)
	}, time.Minute, 100*time.Millisecond)
	assert.Contains(t, detail, fmt.Sprintf(`"seq": %d`, want.Rows[0].Seq))
	assert.Contains(t, detail, `"hash": "`)
	place, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#detail-place")))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%s:%d", want.Rows[0].File, want.Rows[0].Line), place)
	shoot("auditviewer-line.png")

	// Download the filtered rows as CSV.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Click(chromedp.CSS("#download-csv")),
	))
	var csvPath string
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(downloads, "audit-events-*.csv"))
		if len(m) != 1 {
			return false
		}
		csvPath = m[0]
		return true
	}, time.Minute, 100*time.Millisecond, "the CSV download arrives in %s", downloads)
	if t.Failed() {
		entries, _ := os.ReadDir(downloads)
		for _, e := range entries {
			t.Logf("downloaded: %s", e.Name())
		}
	}
	var records [][]string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(csvPath)
		if err != nil {
			return false
		}
		records, err = csv.NewReader(bytes.NewReader(data)).ReadAll()
		return err == nil && len(records) == want.Total+1
	}, time.Minute, 100*time.Millisecond, "the CSV holds every filtered row")
	assert.Equal(t, auditquery.CSVHeader, records[0])
	for i, rec := range records[1:min(len(records), len(want.Rows)+1)] {
		assert.Equal(t, want.Rows[i].Time, rec[0])
		assert.Equal(t, want.Rows[i].Actor, rec[4])
		assert.Equal(t, "ok", rec[8])
	}
	// The view lives in the address: the filters applied, the times as
	// UTC instants. Opened again, it shows the same rows.
	hash, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.hash`))
	require.NoError(t, err)
	assert.Contains(t, hash, "source=sippy")
	assert.Contains(t, hash, "actor=main_admin")
	link := "source=sippy&actor=main_admin&since=2025-03-01T08%3A05%3A00Z&until=2025-03-01T08%3A20Z"
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(tv.base+"/?again#"+link),
		chromedp.WaitVisible(chromedp.CSS("#events tbody td")),
	))
	linked := tv.page(t, "source=sippy&actor=main_admin&since=2025-03-01T08:05:00Z&until=2025-03-01T08:20Z")
	require.NotEmpty(t, linked.Rows)
	rowsAgain := waitRows(func(r []pageRow) bool { return len(r) == len(linked.Rows) && len(r[0].Cells) == 9 })
	for i, r := range rowsAgain {
		assert.Equal(t, linked.Rows[i].Message, r.Cells[8])
	}
	since, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('input[name=since]').value`))
	require.NoError(t, err)
	assert.Equal(t, "2025-03-01T13:35", since, "shown in the browser's zone (+05:30)")
	until, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('input[name=until]').value`))
	require.NoError(t, err)
	assert.Equal(t, "2025-03-01T13:50", until, "minute precision kept: the end takes in its whole minute")

	assert.Positive(t, challenges.Load(), "the viewer asked the browser for credentials")
	t.Logf("screenshots in %s", shots)
}
