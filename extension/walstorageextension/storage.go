package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// walStorage is the extension: one pebble database, many clients. It is
// also the durable.Syncer its clients defer syncs to, so one ticket syncs
// the database once however many clients wrote through it.
type walStorage struct {
	cfg    *Config
	logger *zap.Logger

	// mu guards db against Shutdown: clients and syncs hold it for
	// reading, so the database is never closed under them.
	mu sync.RWMutex
	db *pebble.DB
}

var (
	_ storage.Extension = (*walStorage)(nil)
	_ durable.Syncer    = (*walStorage)(nil)
)

func newWALStorage(cfg *Config, logger *zap.Logger) *walStorage {
	return &walStorage{cfg: cfg, logger: logger}
}

// errClosed answers calls after Shutdown.
var errClosed = errors.New("walstorage: the storage is closed")

// Start opens (or creates) the database. Opening replays the write-ahead
// log, so everything synced before a crash is there again.
func (s *walStorage) Start(context.Context, component.Host) error {
	if s.cfg.CreateDirectory {
		// Durably: pebble syncs its own directory, not that directory's
		// entry in its parent.
		if err := durable.MkdirAll(s.cfg.Directory, 0o750); err != nil {
			return fmt.Errorf("walstorage: creating directory: %w", err)
		}
	}
	if fi, err := os.Stat(s.cfg.Directory); err != nil {
		return fmt.Errorf("walstorage: directory: %w (set create_directory: true to create it)", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("walstorage: directory: %s is not a directory", s.cfg.Directory)
	}
	if d, err := checkNewestLog(s.cfg.Directory); err != nil {
		s.logger.Warn("Could not read the write-ahead log before opening the database", zap.Error(err))
	} else {
		reportLogDamage(s.logger, d)
	}
	cache := pebble.NewCache(int64(s.cfg.CacheMiB) << 20)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:        cache,
		MemTableSize: uint64(s.cfg.MemTableMiB) << 20,
		// A queue's items are written once and deleted soon after: most
		// never leave the memtable, and its tables stay small.
		MemTableStopWritesThreshold: 4,
		Logger:                      pebbleLogger{s.logger},
	}
	// Queue items live for seconds: compressing the tables they are
	// flushed to costs CPU (snappy was 3% of the collector's under load)
	// and saves disk nobody needs.
	opts.Levels = make([]pebble.LevelOptions, 7)
	for i := range opts.Levels {
		opts.Levels[i].Compression = pebble.NoCompression
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(s.cfg.Directory, opts)
	if err != nil {
		return fmt.Errorf("walstorage: opening %s: %w", s.cfg.Directory, err)
	}
	s.mu.Lock()
	s.db = db
	s.mu.Unlock()
	return nil
}

// Shutdown closes the database. Clients must be closed before (the
// collector shuts extensions down after the components using them).
func (s *walStorage) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Sync makes every write so far durable: one empty record committed with
// pebble.Sync waits for the fsync of the log up to it. Pebble's commit
// pipeline lets one fsync cover every sync requested while the previous
// one ran, so concurrent callers share it.
func (s *walStorage) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return errClosed
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("walstorage: syncing the write-ahead log: %w", err)
	}
	return nil
}

// GetClient returns a client whose keys live under a prefix of their own:
// kind, component and name, as file_storage names its files.
func (s *walStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, errClosed
	}
	prefix := strings.ToLower(kind.String()) + "/" + id.String() + "/" + name + "\x00"
	return &client{s: s, prefix: []byte(prefix)}, nil
}

// pebbleLogger sends pebble's messages to the collector's log.
type pebbleLogger struct{ l *zap.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Fatal(fmt.Sprintf(format, args...))
}
