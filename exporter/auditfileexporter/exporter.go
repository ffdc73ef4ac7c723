package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/reuse"
	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
)

type auditFileExporter struct {
	cfg    *Config
	logger *zap.Logger
	writer *archive.Writer

	// enc is kept between batches, unless unusually large.
	enc reuse.Slot[archive.Encoder]

	anchorLost atomic.Bool // logged once

	// id is this exporter's, under which it reports what it archived
	// (internal/durable's registry: a journal before the fan-out waits for
	// these reports).
	id           component.ID
	registration durable.Registration
}

// pushAndReport pushes ld and, once it is in the archive, reports it
// delivered (the journal before the fan-out waits for it).
func (e *auditFileExporter) pushAndReport(ctx context.Context, ld plog.Logs) error {
	err := e.pushLogs(ctx, ld)
	if err == nil {
		durable.Settled(e.id, ld, nil)
	}
	return err
}

// logsExporter registers the exporter as one that reports what it
// delivered once it started, and unregisters it once its queue drained.
type logsExporter struct {
	exporter.Logs
	e *auditFileExporter
}

// ConsumeLogs takes nothing from a call the journal holds for the
// archive (its queue is far behind) and hands over later.
func (l logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if durable.Skipped(ctx, l.e.id) {
		return nil
	}
	return l.Logs.ConsumeLogs(ctx, ld)
}

func (l logsExporter) Start(ctx context.Context, host component.Host) error {
	return l.e.registration.Start(l.e.id, l.Logs, func() error { return l.Logs.Start(ctx, host) })
}

func (l logsExporter) Shutdown(ctx context.Context) error {
	return l.e.registration.Stop(func() error { return l.Logs.Shutdown(ctx) })
}

func newAuditFileExporter(cfg *Config, logger *zap.Logger) *auditFileExporter {
	return &auditFileExporter{cfg: cfg, logger: logger}
}

// start opens the archive, recovering it from a crash if needed, with
// the signing key when signing is configured.
func (e *auditFileExporter) start(context.Context, component.Host) error {
	opts := e.cfg.writerOptions()
	opts.Logger = e.logger
	if sc := e.cfg.Signing; sc.KeyFile != "" {
		key, created, err := archive.LoadOrCreatePrivateKey(sc.KeyFile, sc.CreateKey)
		if err != nil {
			return fmt.Errorf("signing::key_file: %w", err)
		}
		opts.Signer = archive.NewSigner(key)
		fields := []zap.Field{zap.String("key_id", opts.Signer.KeyID()),
			zap.String("fingerprint", "SHA256:"+archive.Fingerprint(opts.Signer.Public())),
			zap.String("public_key", archive.PublicKeyPath(sc.KeyFile))}
		if created {
			e.logger.Warn("Created the archive signing key; copy its public key off this host now (it alone verifies the archive: auditctl verify -pubkey FILE)", fields...)
		} else {
			e.logger.Info("Signing archive checkpoints", fields...)
		}
		if sc.Anchor {
			opts.OnCheckpoint = e.anchor
		}
	}
	w, err := archive.OpenWriter(opts)
	if err != nil {
		return err
	}
	e.writer = w
	if tok := w.LastCheckpoint(); tok != "" && opts.OnCheckpoint != nil {
		// The checkpoint written at the last shutdown was made after the
		// pipelines stopped: send the newest one again (the SIEM's copies
		// are compared by hash, a repeat is harmless).
		if c, err := archive.ParseToken(tok); err == nil {
			e.anchor(c, tok)
		}
	}
	return nil
}

// CheckpointEventName is the event name (the SIEM's MSGID) of a checkpoint.
const CheckpointEventName = "archive.checkpoint"

// anchor hands a checkpoint to the auditself receiver without blocking
// the writer.
func (e *auditFileExporter) anchor(c archive.Checkpoint, tok string) {
	ok := selfaudit.Publish(selfaudit.StreamCheckpoints, selfaudit.Record{
		Time:         c.Time,
		Event:        CheckpointEventName,
		Severity:     plog.SeverityNumberInfo,
		SeverityText: "INFO",
		Body:         tok,
		Attributes: map[string]any{
			"archive.file":         c.File,
			"checkpoint.first_seq": int64(c.FirstSeq),
			"checkpoint.last_seq":  int64(c.LastSeq),
			"checkpoint.head":      c.Head,
			"checkpoint.prev":      c.Prev,
			"checkpoint.hash":      c.Hash(),
			"checkpoint.key_id":    c.KeyID,
		},
	})
	if !ok && e.anchorLost.CompareAndSwap(false, true) {
		e.logger.Error("Checkpoints are not leaving the host: no auditself receiver with stream: checkpoints takes them (see the auditfile exporter's README); they are still written to the archive")
	}
}

func (e *auditFileExporter) shutdown(context.Context) error {
	if e.writer == nil {
		return nil
	}
	return e.writer.Close()
}

// pushLogs appends the batch to the archive as a whole: all of its lines
// or none. Write errors (a full disk included) are retryable; only a
// writer that is already closed is permanent.
func (e *auditFileExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if e.writer == nil {
		return consumererror.NewPermanent(errors.New("auditfile exporter is not started"))
	}
	enc := e.enc.Take()
	// The index's fields go with the lines only when an index in this
	// collector takes them (the viewer).
	enc.NoHints = !e.writer.Tapped()
	err := e.writer.WriteHinted(ctx, enc.Encode(ld), enc.Hints())
	if err == nil && enc.Size() <= maxKeptEncoder {
		// Written: the writer holds nothing of the bodies any more. After
		// an error it may (a write that timed out may still complete), so
		// the encoder is left to the garbage collector.
		e.enc.Keep(enc)
	}
	if errors.Is(err, archive.ErrClosed) {
		return consumererror.NewPermanent(err)
	}
	return err
}

// maxKeptEncoder keeps a batch of unusually large records from pinning its
// encoding buffer for good.
const maxKeptEncoder = 16 << 20
