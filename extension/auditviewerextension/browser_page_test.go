package auditviewerextension

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// browserFor starts headless Chromium (zone Asia/Kolkata) answering the
// viewer's basic-auth challenges with tv's credentials.
func browserFor(t *testing.T, tv *testViewer) context.Context {
	t.Helper()
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000), chromedp.Env("TZ=Asia/Kolkata"))
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancelBrowser(); wg.Wait(); cancelAlloc() })
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
	go func() {
		defer wg.Done()
		for ev, err := range challenged {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: tv.user, Password: tv.pass}})
		}
	}()
	require.NoError(t, chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		handle := true
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle})
		return err
	})))
	return bctx
}

func evalIn[T any](t *testing.T, bctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(bctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// The page's newer parts in a real browser: a page opened with the
// credentials in its address, events whose input was not readable
// (marked, filtered, their receipt time said), the detail panel beside
// the row (labelled fields, keys, previous/next), first/last/go-to paging
// with the API's pages, Action matching a part of the name, word-aware
// wrapping, and an invalid filter that empties the table and disables the
// downloads.
func TestBrowserPage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 256 << 10, Compress: true})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(11, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(400)))
	require.NoError(t, p.Write(ctx, auditquerytest.Unparsed(4, auditquerytest.Start.Add(390*time.Second))))
	require.NoError(t, p.Write(ctx, g.Next(400)))
	require.NoError(t, p.Close())
	tv := startViewer(t, path, "page-s3cret")
	bctx := browserFor(t, tv)

	// A page opened as http://user:pass@host/ keeps the credentials in its
	// address in Firefox (Chromium drops them on navigation and will not
	// let a script put them back), and fetch() refuses any URL resolved
	// against it. The page builds its API URLs from the origin and path
	// alone: checked here on such an address, and the URL it makes works.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(tv.base+"/"), chromedp.WaitVisible(chromedp.CSS("#events tbody td.time"))))
	withCreds := strings.Replace(tv.base, "http://", "http://"+tv.user+":"+tv.pass+"@", 1) + "/viewer/index.html"
	assert.Equal(t, tv.base+"/viewer/api/events?limit=1", evalIn[string](t, bctx, fmt.Sprintf(`apiURL('api/events?limit=1', new URL(%q))`, withCreds)))
	assert.Contains(t, evalIn[string](t, bctx, fmt.Sprintf(`(() => { try { new Request(new URL('api/events', %q)); return 'made'; } catch (e) { return String(e); } })()`, withCreds)),
		"credentials", "a URL resolved against such an address is refused")
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`fetch(apiURL('api/status')).then(r => r.status)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, 200, status, "the page's own URL works")
	waitRows := func(ok func([]pageRow) bool) []pageRow {
		var got []pageRow
		require.Eventually(t, func() bool {
			got = evalIn[[]pageRow](t, bctx, readRows)
			return ok(got)
		}, time.Minute, 100*time.Millisecond, "rows: %v", got)
		return got
	}
	waitRows(func(r []pageRow) bool { return len(r) == 50 })
	assert.True(t, evalIn[bool](t, bctx, `document.querySelector('#error').hidden`), "no error")
	assert.NotContains(t, evalIn[string](t, bctx, `document.querySelector('#download-csv').href`), tv.pass, "download links carry no credentials")

	// Unparsed input: marked, found by its filter, its date the receipt time.
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`input[name=unparsed]`)), chromedp.Click(chromedp.CSS("#apply"))))
	unparsed := waitRows(func(r []pageRow) bool { return len(r) == 4 && r[0].Cells[0] == "?" })
	want := tv.page(t, "parse=failed")
	require.Len(t, want.Rows, 4)
	for i, r := range unparsed {
		assert.Contains(t, r.Class, "unparsed")
		assert.Equal(t, "?", r.Cells[0])
		assert.Equal(t, "Unparsed input: "+want.Rows[i].ParseError, r.Titles[0])
		assert.True(t, strings.HasSuffix(r.Cells[1], " (received)"), r.Cells[1])
		assert.Contains(t, r.Titles[1], "RECEIVED")
	}
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`input[name=unparsed]`))))

	// Action matches a part of the name, whatever the vendor.
	require.NoError(t, chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`input[name=action]`), "login"), chromedp.Click(chromedp.CSS("#apply"))))
	logins := tv.page(t, "action=login")
	require.NotEmpty(t, logins.Rows)
	got := waitRows(func(r []pageRow) bool {
		return len(r) == len(logins.Rows) && len(r[0].Cells) == 9 && strings.Contains(r[0].Cells[4], "Login")
	})
	for i, r := range got {
		assert.Equal(t, logins.Rows[i].Action, r.Cells[4])
	}
	evalIn[bool](t, bctx, `(document.querySelector('input[name=action]').value = '') === ''`)
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#apply"))))
	all := tv.page(t, "")
	waitRows(func(r []pageRow) bool { return len(r) == 50 && r[0].Cells[8] == all.Rows[0].Message })

	// Paging: last, first, go to a page; each page is the API's.
	pageInfo := func() string { return evalIn[string](t, bctx, `document.querySelector('#page-info').textContent`) }
	pages := (all.Total + 49) / 50
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#last"))))
	last := tv.page(t, "page=last")
	require.Equal(t, pages, last.Page)
	waitRows(func(r []pageRow) bool { return len(r) == len(last.Rows) && r[0].Cells[8] == last.Rows[0].Message })
	assert.Contains(t, pageInfo(), fmt.Sprintf("Page %d of %d", pages, pages))
	assert.True(t, evalIn[bool](t, bctx, `document.querySelector('#older').disabled && document.querySelector('#last').disabled`))
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#first"))))
	waitRows(func(r []pageRow) bool { return len(r) == 50 && r[0].Cells[8] == all.Rows[0].Message })
	assert.Contains(t, pageInfo(), fmt.Sprintf("Page 1 of %d", pages))
	require.NoError(t, chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS("#goto-page"), "3"), chromedp.Click(chromedp.CSS("#goto button"))))
	third := tv.page(t, "page=3")
	waitRows(func(r []pageRow) bool { return len(r) == 50 && r[0].Cells[8] == third.Rows[0].Message })
	assert.Contains(t, pageInfo(), fmt.Sprintf("Page 3 of %d", pages))

	// The detail panel: beside the table, the fields labelled.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#events tbody tr:nth-child(2) td.resource")),
		chromedp.WaitVisible(chromedp.CSS("#detail")),
	))
	place := func() string { return evalIn[string](t, bctx, `document.querySelector('#detail-place').textContent`) }
	rowPlace := func(i int) string { return fmt.Sprintf("%s:%d", third.Rows[i].File, third.Rows[i].Line) }
	require.Eventually(t, func() bool { return place() == rowPlace(1) }, time.Minute, 50*time.Millisecond)
	fields := evalIn[map[string]string](t, bctx, `Object.fromEntries(Array.from(document.querySelectorAll('#detail dd')).map(dd => [dd.previousElementSibling.textContent, dd.textContent]))`)
	r := third.Rows[1]
	assert.Equal(t, r.Resource, fields["Resource"])
	assert.Equal(t, r.Action, fields["Action"])
	assert.Equal(t, r.Actor, fields["Action by"])
	assert.Equal(t, r.ClientAddress, fields["User IP/Node"])
	assert.Equal(t, r.Message, fields["Message"])
	assert.Equal(t, rowPlace(1), fields["File and line"])
	assert.Equal(t, fmt.Sprint(r.Seq), fields["Chain seq"])
	require.Eventually(t, func() bool {
		return strings.Contains(evalIn[string](t, bctx, `document.querySelector('#detail-line').textContent`), fmt.Sprintf(`"seq": %d`, r.Seq))
	}, time.Minute, 50*time.Millisecond)
	beside := evalIn[bool](t, bctx, `(() => { const t = document.querySelector('#results').getBoundingClientRect();
		const d = document.querySelector('#detail').getBoundingClientRect(); return d.left >= t.right && d.top < t.bottom; })()`)
	assert.True(t, beside, "the panel is beside the table, not below it")
	selected := func() int {
		return evalIn[int](t, bctx, `Array.from(document.querySelectorAll('#events tbody tr')).findIndex(tr => tr.classList.contains('selected'))`)
	}
	assert.Equal(t, 1, selected())

	// Keys and buttons move the selection and the panel follows.
	key := func(k string) {
		require.NoError(t, chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k})
			return err
		})))
	}
	key("j")
	require.Eventually(t, func() bool { return place() == rowPlace(2) }, time.Minute, 50*time.Millisecond)
	assert.Equal(t, 2, selected())
	key("ArrowUp")
	key("ArrowUp")
	require.Eventually(t, func() bool { return place() == rowPlace(0) }, time.Minute, 50*time.Millisecond)
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#detail-next"))))
	require.Eventually(t, func() bool { return place() == rowPlace(1) }, time.Minute, 50*time.Millisecond)
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#detail-prev"))))
	require.Eventually(t, func() bool { return place() == rowPlace(0) }, time.Minute, 50*time.Millisecond)
	// Up from the first row of page 3 goes to the last row of page 2.
	key("k")
	second := tv.page(t, "page=2")
	require.Eventually(t, func() bool {
		return place() == fmt.Sprintf("%s:%d", second.Rows[49].File, second.Rows[49].Line)
	}, time.Minute, 50*time.Millisecond)
	assert.Contains(t, pageInfo(), fmt.Sprintf("Page 2 of %d", pages))
	key("Escape")
	assert.True(t, evalIn[bool](t, bctx, `document.querySelector('#detail').hidden`))

	// Words wrap at spaces, not mid-word.
	assert.Equal(t, "break-word", evalIn[string](t, bctx, `getComputedStyle(document.querySelector('#events tbody td.message')).overflowWrap`))
	assert.Equal(t, "normal", evalIn[string](t, bctx, `getComputedStyle(document.querySelector('#events tbody td.resource')).wordBreak`))

	// An inverted date range: the API refuses it; the table is emptied and
	// the downloads disabled, with the reason shown.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`input[name=since]`), "2025-03-02T10:00"),
		chromedp.SetValue(chromedp.CSS(`input[name=until]`), "2025-03-01T10:00"),
		chromedp.Click(chromedp.CSS("#apply")),
	))
	waitRows(func(r []pageRow) bool { return len(r) == 1 && strings.Contains(r[0].Class, "empty") })
	errText := evalIn[string](t, bctx, `document.querySelector('#error').textContent`)
	assert.Contains(t, errText, "until is before since")
	for _, id := range []string{"download-csv", "download-jsonl"} {
		assert.True(t, evalIn[bool](t, bctx, fmt.Sprintf(`!document.querySelector('#%s').hasAttribute('href') && document.querySelector('#%s').getAttribute('aria-disabled') === 'true'`, id, id)), id)
	}
	assert.True(t, evalIn[bool](t, bctx, `document.querySelector('#older').disabled && document.querySelector('#last').disabled`))

	// Corrected, the rows and the downloads come back.
	evalIn[bool](t, bctx, `(document.querySelector('input[name=until]').value = '') === ''`)
	require.NoError(t, chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`input[name=since]`), "2025-03-01T13:30"), chromedp.Click(chromedp.CSS("#apply"))))
	waitRows(func(r []pageRow) bool { return len(r) > 0 && !strings.Contains(r[0].Class, "empty") })
	assert.Contains(t, evalIn[string](t, bctx, `document.querySelector('#download-csv').href`), "since=")
	if d := os.Getenv(screenshotDirEnv); d != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(d, "auditviewer-page.png"), png, 0o644))
	}
}
