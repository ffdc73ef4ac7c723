// Package exportdefaults holds the sending-queue defaults the rfc5424 and
// auditfile exporters share, so that under overload both queues fill alike
// (a request is refused only when one of them is full, and the other has
// the same room). Each exporter's README documents the values.
package exportdefaults // import "github.com/otelcol-audit/otelcol-audit/internal/exportdefaults"

import (
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const (
	// QueueSize bounds what waits in memory, in records whatever the
	// events per request: about 4 KiB each, so 20 MiB when full. A full
	// queue blocks the request (block_on_overflow) until there is room or
	// the receiver gives up (auditwebhook: accept_timeout).
	QueueSize = 5_000
	// Batches: one write, fsync or liveness check per batch instead of
	// per request; a batch goes at BatchMin records or after
	// FlushTimeout.
	FlushTimeout = 200 * time.Millisecond
	BatchMin     = 500
	BatchMax     = 2_000
)

// DefaultConfig returns the sending queue both exporters default to, with
// numConsumers consumers: records counted, QueueSize of them, blocking
// when full, batched.
func DefaultConfig(numConsumers int) exporterhelper.QueueBatchConfig {
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.NumConsumers = numConsumers
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = QueueSize
	queue.BlockOnOverflow = true
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: FlushTimeout,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      BatchMin,
		MaxSize:      BatchMax,
	})
	return queue
}
