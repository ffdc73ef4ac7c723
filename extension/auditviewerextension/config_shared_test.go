package auditviewerextension

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestLoadSharedIndexConfig(t *testing.T) {
	cfg := loadConfig(t, "shared")
	require.True(t, cfg.Index.Postgres.HasValue())
	pg := cfg.Index.Postgres.Get()
	assert.Equal(t, "postgres://audit@db.example:5432/audit?sslmode=verify-full", string(pg.DSN))
	assert.Equal(t, "collector-a", pg.CollectorName)
	assert.Equal(t, 2*time.Second, pg.RefreshInterval)
	assert.Equal(t, 30*time.Second, pg.MaxRetryInterval, "default")
	assert.Equal(t, 5*time.Second, pg.ConnectTimeout, "default")
	assert.Equal(t, 4, pg.MaxConns, "default")
	assert.NoError(t, confmap.Validate(cfg))
	assert.False(t, loadConfig(t, "").Index.Postgres.HasValue(), "SQLite beside the archive by default")
}

func TestValidateSharedIndex(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "shared_bad"))
	require.Error(t, err)
	for _, want := range []string{
		"index.postgres.dsn: not a PostgreSQL connection string",
		`index.postgres.collector_name: must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit, got "a/b"`,
		"index.postgres.refresh_interval: must be positive, got 0s",
		"index.postgres.max_retry_interval: must be at least refresh_interval (0s), got -1s",
		"index.postgres.connect_timeout: must be positive, got 0s",
		"index.postgres.max_conns: must be at least 2 (one writer, one reader), got 1",
		"index_path: names an SQLite file; with index.postgres the index is in PostgreSQL: set one of them",
	} {
		assert.ErrorContains(t, err, want)
	}
	assert.NotContains(t, err.Error(), "[::1", "the DSN (it may hold a password) is not repeated")
}
