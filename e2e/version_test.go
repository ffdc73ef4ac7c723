//go:build e2e

package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Both binaries, built by make, say the same version, in the same form.
func TestBothBinariesSayTheSameVersion(t *testing.T) {
	out, err := exec.Command(binaryPath(t, envCollectorBin), "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	collector, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "otelcol-audit version ")
	require.True(t, ok, "%q", out)
	require.NotEmpty(t, collector)

	ctl, code := auditctl(t, "--version")
	require.Zero(t, code, ctl)
	assert.Equal(t, "auditctl version "+collector+"\n", ctl)
}
