// Package archivetest holds test helpers for the archive, the auditfile
// exporter and auditctl: sample audit records, the rule for tests that need
// something from the machine, and a way to run a test on a tiny filesystem
// that fills up.
package archivetest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// RequireEnv is the environment variable CI sets so that a test missing
// something from the machine fails instead of skipping.
const RequireEnv = "OTELCOL_AUDIT_REQUIRE_SERVERS"

// SkipOrFail skips the test with the reason, or fails it when RequireEnv=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: required)", reason, RequireEnv)
	}
	t.Skip(reason)
}

// tmpfsEnv carries the mount point to the child started by Tmpfs.
const tmpfsEnv = "ARCHIVETEST_TMPFS_DIR"

// Tmpfs runs the calling test on a tmpfs of size bytes, so it can fill the
// disk for real. It re-executes the test binary, running only this test, in
// a private mount namespace (a user namespace too when not root), where the
// tmpfs is mounted; the mount vanishes with the child and the host never
// sees it.
//
// In the parent it waits for the child, fails the test if the child failed,
// and returns ok=false: the caller returns. In the child it returns the
// mounted directory and ok=true: the caller runs the test body.
func Tmpfs(t *testing.T, size int) (dir string, ok bool) {
	t.Helper()
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Fatalf("making the mount namespace private: %v", err)
		}
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
			t.Fatalf("mounting a %d-byte tmpfs on %s: %v", size, dir, err)
		}
		return dir, true
	}
	mnt := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+mnt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if uid, gid := os.Getuid(), os.Getgid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		t.Logf("ran on a %d-byte tmpfs in a child process:\n%s", size, out)
	case errors.As(err, &exitErr):
		t.Fatalf("the test failed on a %d-byte tmpfs in a child process: %v\n%s", size, err, out)
	default:
		SkipOrFail(t, "cannot start a child in a private mount namespace to mount a small tmpfs (needs root or user namespaces): %v", err)
	}
	return "", false
}

// Base is the event time of the sample records: a time with all nine
// fractional digits, so tests see that none is lost.
var Base = time.Date(2024, 1, 11, 9, 18, 32, 745235812, time.UTC)

// GlassixLogs returns n Glassix-like audit records as the auditlog
// processor leaves them (record contract, ARCHITECTURE.md), numbered from first:
// message "user-<i> removed by admin", event name UserRemoved, a nested
// initiatorUser map and a tags list to flatten.
func GlassixLogs(first, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr(auditrecord.AttrSource, auditrecord.SourceGlassix)
	res.PutStr(auditrecord.AttrServiceName, auditrecord.SourceGlassix)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := first; i < first+n; i++ {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(Base.Add(time.Duration(i) * time.Second)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(Base.Add(time.Duration(i)*time.Second + 150*time.Millisecond)))
		lr.SetEventName("UserRemoved")
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("warning")
		lr.Body().SetStr(fmt.Sprintf("user-%d removed by admin", i))
		a := lr.Attributes()
		a.PutStr("id", fmt.Sprintf("cb20ff99-%08d", i))
		a.PutStr("logType", "Security")
		a.PutStr("ipAddress", "212.199.97.210")
		u := a.PutEmptyMap("initiatorUser")
		u.PutStr("UserName", "admin@example.com")
		u.PutBool("isAnonymous", false)
		tags := a.PutEmptySlice("tags")
		tags.AppendEmpty().SetStr("security")
		tags.AppendEmpty().SetStr("users")
		a.PutInt(auditrecord.AttrParseLine, int64(i))
		a.PutStr(auditrecord.AttrOutcome, auditrecord.OutcomeSuccess)
	}
	return ld
}
