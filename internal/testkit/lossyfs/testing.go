package lossyfs

import (
	"errors"
	"testing"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// MountT mounts a lossy filesystem on a new temporary directory for the
// test and unmounts it at cleanup (unless PowerCut did). Where FUSE is
// unavailable it skips the test, or fails it when
// OTELCOL_AUDIT_REQUIRE_SERVERS=1 (CI sets it: there the test must run).
func MountT(t testing.TB) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := Mount(dir)
	if errors.Is(err, ErrUnavailable) {
		archivetest.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.mu.Lock()
		cut := f.cut
		f.mu.Unlock()
		if !cut {
			if err := f.Unmount(); err != nil {
				t.Error(err)
			}
		}
	})
	return f, dir
}
