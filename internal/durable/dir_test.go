package durable_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/lossyfs"
)

// A store's directory made with MkdirAll survives a power loss with what
// was synced inside it; made with os.MkdirAll (the control) it is lost,
// synced contents and all.
func TestMkdirAllSurvivesAPowerLoss(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mkdir   func(string, os.FileMode) error
		survive bool
	}{
		{"durable.MkdirAll", durable.MkdirAll, true},
		{"os.MkdirAll", os.MkdirAll, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, mnt := lossyfs.MountT(t)
			store := filepath.Join(mnt, "var", "lib", "store")
			require.NoError(t, tc.mkdir(store, 0o750))
			f, err := os.Create(filepath.Join(store, "log"))
			require.NoError(t, err)
			_, err = f.WriteString("synced")
			require.NoError(t, err)
			require.NoError(t, f.Sync())
			require.NoError(t, f.Close())
			require.NoError(t, durable.SyncDir(store)) // what the store itself does

			after := t.TempDir()
			_, err = fsys.Image(after)
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(after, "var", "lib", "store", "log"))
			if !tc.survive {
				require.ErrorIs(t, err, os.ErrNotExist, "the model loses a directory whose parent was never synced")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "synced", string(got))
		})
	}
}

func TestMkdirAllOnAnExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, durable.MkdirAll(dir, 0o750))
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	require.Error(t, durable.MkdirAll(filepath.Join(file, "sub"), 0o750), "a file in the path")
}
