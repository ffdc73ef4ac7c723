package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/archive"
)

type auditFileExporter struct {
	cfg    *Config
	logger *zap.Logger
	writer *archive.Writer

	// enc is kept between batches (see takeEncoder).
	encMu sync.Mutex
	enc   *archive.Encoder
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
	enc := e.takeEncoder()
	err := e.writer.Write(ctx, enc.Encode(ld))
	if err == nil {
		// Written: the writer holds nothing of the bodies any more. After
		// an error it may (a write that timed out may still complete), so
		// the encoder is left to the garbage collector.
		e.keepEncoder(enc)
	}
	if errors.Is(err, archive.ErrClosed) {
		return consumererror.NewPermanent(err)
	}
	return err
}

// takeEncoder returns the kept encoder, or a new one when it is in use (a
// second batch in flight) or was lost with a failed write.
func (e *auditFileExporter) takeEncoder() *archive.Encoder {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	enc := e.enc
	e.enc = nil
	if enc == nil {
		enc = &archive.Encoder{}
	}
	return enc
}

func (e *auditFileExporter) keepEncoder(enc *archive.Encoder) {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	e.enc = enc
}
