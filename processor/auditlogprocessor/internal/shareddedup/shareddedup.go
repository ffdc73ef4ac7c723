// Package shareddedup keeps the event keys that several collectors have
// delivered in one PostgreSQL table, so that a vendor's retry that reaches
// another instance is dropped there too.
//
// It adds to the local window (package dedup), never replaces it: a batch
// is first deduplicated locally; the keys that pass are checked here in one
// query (Seen); once the next consumer accepted the batch, its keys are
// recorded here in one statement (Record). The semantics are the local
// window's: a key counts as seen once its record was delivered; a copy that
// arrives at another instance while the first is still in flight passes
// too (both may be delivered; nothing is lost).
//
// Record's statement leaves the pipeline call's path (RecordLater): the
// keys of calls made while one statement runs go together in the next,
// and whoever must know they are recorded (the webhook receiver, before
// it answers: the processor puts the wait in the call's durable.Ticket,
// beside the fsync) waits for them.
//
// The store is never allowed to stop delivery. Each call has a short
// timeout; after a failure the store is not asked again for a back-off
// period, during which Seen and Record report ErrUnavailable at once and
// the processor relies on its local window.
package shareddedup // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/shareddedup"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/dedup"
)

// ErrUnavailable is returned while the store is backing off after a
// failure.
var ErrUnavailable = errors.New("shared dedup store unavailable (backing off after a failure)")

// Config says where the store is and how long a key is remembered.
type Config struct {
	// DSN is a PostgreSQL connection string (URL or key=value).
	DSN string
	// Table holds the keys; created when missing.
	Table string
	// Window is how long a delivered key counts as seen.
	Window time.Duration
	// Timeout bounds each query.
	Timeout time.Duration
	// Backoff is how long the store is left alone after a failure.
	Backoff time.Duration
}

// Store is a connection pool to the shared table. Safe for concurrent use.
type Store struct {
	cfg  Config
	pool *pgxpool.Pool
	now  func() time.Time

	mu        sync.Mutex
	downUntil time.Time
	ready     bool // the table exists
	lastPrune time.Time

	// Keys waiting for the next Record statement, with the Pending it
	// answers, and whether a statement is running (flushing).
	rmu      sync.Mutex
	queued   []dedup.Key
	next     *Pending
	flushing bool
	flushes  sync.WaitGroup
}

// Pending is the outcome of RecordLater's keys.
type Pending struct {
	done chan struct{}
	err  error
}

// Wait returns once the keys are recorded, with the statement's error.
func (p *Pending) Wait() error {
	<-p.done
	return p.err
}

// RecordLater queues keys for Record and returns at once: the keys queued
// while a statement runs go together in the next one.
func (s *Store) RecordLater(keys []dedup.Key) *Pending {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.next == nil {
		s.next = &Pending{done: make(chan struct{})}
	}
	p := s.next
	s.queued = append(s.queued, keys...)
	if !s.flushing {
		s.flushing = true
		s.flushes.Add(1)
		go s.flush()
	}
	return p
}

// flush runs Record statements until nothing is queued.
func (s *Store) flush() {
	defer s.flushes.Done()
	for {
		s.rmu.Lock()
		keys, p := s.queued, s.next
		s.queued, s.next = nil, nil
		if p == nil {
			s.flushing = false
			s.rmu.Unlock()
			return
		}
		s.rmu.Unlock()
		p.err = s.Record(context.Background(), keys)
		close(p.done)
	}
}

// ValidateDSN reports whether dsn is a connection string pgx can read,
// without connecting.
func ValidateDSN(dsn string) error {
	_, err := pgxpool.ParseConfig(dsn)
	return err
}

// Open prepares a pool; it does not connect (a collector starts while its
// database is down).
func Open(cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	pc.MaxConns = 4
	pc.ConnConfig.ConnectTimeout = cfg.Timeout
	// Record's commit does not wait for the server's WAL flush: a key is
	// visible to every collector as soon as it commits, and only a crash
	// of the server itself loses the keys of its last moments (at most
	// 3 x wal_writer_delay, 600 ms by default), whose retries may then be
	// delivered twice, as during any outage; nothing is lost. Waiting for
	// the flush put a disk sync on every request's path: in the load
	// harness it cut the delivered rate by half (see examples/ha).
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	// Each lookup is planned for the table as it is (PostgreSQL 12 and
	// later). pgx prepares its statements, and after five executions
	// PostgreSQL may keep a generic plan made for the table's size then:
	// a table created empty got a sequential scan, kept while the table
	// grew until the next ANALYZE (in the load harness the lookup took
	// 148 ms on average, past the timeout, at 260 - 380 us of server CPU
	// per event). Planning 100 keys costs the server about 0.1 ms.
	pc.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, pool: pool, now: time.Now}, nil
}

// Close waits for the queued keys' statement and closes the pool.
func (s *Store) Close() {
	s.flushes.Wait()
	s.pool.Close()
}

// call runs fn with the store's timeout unless the store is backing off,
// and starts a back-off when fn fails.
func (s *Store) call(ctx context.Context, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	if s.now().Before(s.downUntil) {
		s.mu.Unlock()
		return ErrUnavailable
	}
	ready := s.ready
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := func() error {
		if !ready {
			if err := s.createTable(ctx); err != nil {
				return err
			}
		}
		return fn(ctx)
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.downUntil = s.now().Add(s.cfg.Backoff)
		return err
	}
	s.ready = true
	return nil
}

// createTable creates the table and its index unless they exist. Several
// collectors starting at once would race in CREATE ... IF NOT EXISTS,
// which PostgreSQL does not serialize (one fails on its catalog's unique
// index), so the statements run under a transaction-scoped advisory lock.
func (s *Store) createTable(ctx context.Context) error {
	t := pgx.Identifier{s.cfg.Table}.Sanitize()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "otelcol-audit:"+s.cfg.Table); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
			key bytea PRIMARY KEY,
			seen_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+pgx.Identifier{s.cfg.Table + "_seen_at"}.Sanitize()+` ON `+t+` (seen_at)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating table %s: %w", s.cfg.Table, err)
	}
	return nil
}

func byteaKeys(keys []dedup.Key) [][]byte {
	out := make([][]byte, len(keys))
	for i := range keys {
		out[i] = keys[i][:]
	}
	return out
}

// Seen returns the keys among keys that some collector delivered within
// the window.
func (s *Store) Seen(ctx context.Context, keys []dedup.Key) (map[dedup.Key]bool, error) {
	seen := map[dedup.Key]bool{}
	if len(keys) == 0 {
		return seen, nil
	}
	err := s.call(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT key FROM `+pgx.Identifier{s.cfg.Table}.Sanitize()+
			` WHERE key = ANY($1) AND seen_at > now() - $2::interval`, byteaKeys(keys), s.cfg.Window)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			var k dedup.Key
			copy(k[:], b)
			seen[k] = true
		}
		return rows.Err()
	})
	return seen, err
}

// pruneEvery is how often Record also deletes keys older than the window.
const pruneEvery = time.Minute

// Record marks keys delivered now (by the database's clock, which every
// collector shares). An existing key's time is moved forward, as the local
// window does for a key delivered again.
func (s *Store) Record(ctx context.Context, keys []dedup.Key) error {
	keys = unique(keys)
	if len(keys) == 0 {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	prune := now.Sub(s.lastPrune) >= pruneEvery
	if prune {
		s.lastPrune = now
	}
	s.mu.Unlock()
	t := pgx.Identifier{s.cfg.Table}.Sanitize()
	return s.call(ctx, func(ctx context.Context) error {
		// An INSERT may not touch one row twice: keys are unique.
		_, err := s.pool.Exec(ctx, `INSERT INTO `+t+` (key, seen_at) SELECT k, now() FROM unnest($1::bytea[]) AS k
			ON CONFLICT (key) DO UPDATE SET seen_at = EXCLUDED.seen_at`, byteaKeys(keys))
		if err != nil || !prune {
			return err
		}
		_, err = s.pool.Exec(ctx, `DELETE FROM `+t+` WHERE seen_at <= now() - $1::interval`, s.cfg.Window)
		return err
	})
}

// unique returns keys without repeats, in their order.
func unique(keys []dedup.Key) []dedup.Key {
	seen := make(map[dedup.Key]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
