package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/reuse"
)

type auditFileExporter struct {
	cfg    *Config
	logger *zap.Logger
	writer *archive.Writer

	// enc is kept between batches, unless unusually large.
	enc reuse.Slot[archive.Encoder]
}

func newAuditFileExporter(cfg *Config, logger *zap.Logger) *auditFileExporter {
	return &auditFileExporter{cfg: cfg, logger: logger}
}

// start opens the archive, recovering it from a crash if needed.
func (e *auditFileExporter) start(context.Context, component.Host) error {
	opts := e.cfg.writerOptions()
	opts.Logger = e.logger
	w, err := archive.OpenWriter(opts)
	if err != nil {
		return err
	}
	e.writer = w
	return nil
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
	err := e.writer.Write(ctx, enc.Encode(ld))
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
