package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ctreplayLine returns a CTReplay audit line as seed 001 shows them.
func ctreplayLine(ts, user, ip, action, params, level string) string {
	return `{"ts":"` + ts + `","domain":"SAASFCL","userID":"` + user + `","ipAddress":"` + ip +
		`","action":"` + action + `","params":"` + params + `","level":"` + level + `"}`
}

var (
	seedLine   = ctreplayLine("08/01/2021 - 12:44:30.479", "admin", "::1", "GET ALL Profile", "", "info")
	deleteLine = ctreplayLine("08/01/2021 - 16:36:30.408", "admin", "::1", "DELETE Recording", "id=42", "info")
)

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestCTReplayFileExample(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "logs", "ctreplay.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o700))
	t.Setenv("CTREPLAY_LOG", logPath)
	t.Setenv("CTREPLAY_TIMEZONE", "Europe/Rome")
	t.Setenv("OTELCOL_AUDIT_DATA", filepath.Join(dir, "data"))
	conf := loadExample(t, "ctreplay-file.yaml")

	// CTReplay has been writing before the collector's first start.
	appendLines(t, logPath, seedLine, "CTReplay restarted")

	p := startExample(t, conf, "logs/ctreplay")
	recs := p.records(2)
	require.Len(t, recs, 2)
	first, bad := recs[0], recs[1]

	assert.Equal(t, "ctreplay", first.resAttr("audit.source"))
	assert.Equal(t, "ctreplay", first.resAttr("service.name"))
	assert.Equal(t, "GET ALL Profile", first.EventName())
	assert.Equal(t, "GET ALL Profile", first.Body().Str())
	assert.Equal(t, time.Date(2021, 1, 8, 11, 44, 30, 479e6, time.UTC), first.Timestamp().AsTime().UTC(), "ts read in CTREPLAY_TIMEZONE (CET)")
	assert.Equal(t, "admin", first.attr("userID"))
	assert.Equal(t, "ctreplay.log", first.attr("log.file.name"))
	assert.Equal(t, "admin", first.attr("audit.actor"))
	assert.Equal(t, "Profile", first.attr("audit.target"))
	assert.Equal(t, "info", first.SeverityText())
	assert.Equal(t, "<absent>", first.attr("audit.parse_error"))

	assert.Equal(t, "CTReplay restarted", bad.Body().Str(), "a line that is not JSON is passed on as it was")
	assert.Contains(t, bad.attr("audit.parse_error"), "line is not a JSON object")
	assert.Equal(t, "warning", bad.SeverityText())

	// Lines written while the collector runs are tailed; the seed line
	// written again is a duplicate; a line over max_log_size (1 MiB) is
	// split, both parts flagged and nothing lost. The last line tells when
	// the ones before it were read (the file is read in order).
	oversized := ctreplayLine("08/01/2021 - 16:40:00.000", "admin", "::1", "SAVE Profile", strings.Repeat("x", 3<<19), "info")
	appendLines(t, logPath, deleteLine, oversized, seedLine, ctreplayLine("08/01/2021 - 17:00:00.000", "bob", "10.0.0.2", "GET USERS", "", "info"))
	recs = p.records(6)
	require.Len(t, recs, 6, "the repeated seed line was dropped")
	del := recs[2]
	assert.Equal(t, "DELETE Recording", del.EventName())
	assert.Equal(t, "DELETE Recording id=42", del.Body().Str())
	assert.Equal(t, "notice", del.SeverityText(), "deletions are at least notice")
	assert.Equal(t, "security", del.attr("audit.category"))
	part1, part2 := recs[3], recs[4]
	assert.Equal(t, oversized, part1.Body().Str()+part2.Body().Str(), "the oversized line's text is all there")
	assert.Contains(t, part1.attr("audit.parse_error"), "line is not a JSON object")
	assert.Contains(t, part2.attr("audit.parse_error"), "line is not a JSON object")
	assert.Equal(t, "GET USERS", recs[5].EventName())

	// Restart: file_storage remembers how far the file was read and which
	// events were delivered.
	p.stop()
	appendLines(t, logPath, deleteLine, ctreplayLine("08/01/2021 - 18:00:00.000", "carol", "10.0.0.3", "SET tag", "", "info"))
	p = startExample(t, conf, "logs/ctreplay")
	recs = p.records(1)
	require.Len(t, recs, 1, "nothing read twice (not even the flagged line) and the duplicate dropped across the restart")
	assert.Equal(t, "carol", recs[0].attr("userID"))
}
