package bench

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// TestTinyJournalPatchApplies keeps README.md's experiment repeatable: the
// patch it tells a reader to apply must still apply to the tree.
func TestTinyJournalPatchApplies(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		// CI runs in a clone, with OTELCOL_AUDIT_REQUIRE_SERVERS=1: there
		// this fails instead.
		archivetest.SkipOrFail(t, "not a git checkout (%v): the patch is checked where the tree is one", err)
	}
	patch, err := filepath.Abs("tiny-journal.patch")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", "--check", patch)
	cmd.Dir = strings.TrimSpace(string(top))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench/tiny-journal.patch no longer applies; remake it from README.md's description: %v\n%s", err, out)
	}
}
