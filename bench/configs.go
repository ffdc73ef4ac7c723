// Package bench holds the load harness (`make bench`): the collector
// configurations it runs, the contrib comparison distribution's manifest,
// and, under harness/ and internal/, the harness itself. See README.md.
package bench // import "github.com/otelcol-audit/otelcol-audit/bench"

import "embed"

// Configs holds the collector configurations the harness runs, by path:
// audit/collector.yaml with its overlays audit/durable.yaml (walstorage, as
// shipped) and audit/persistent-queue.yaml (file_storage), and
// contrib/collector.yaml with its overlays contrib/durable.yaml and
// contrib/batch.yaml. Their ${env:BENCH_*} values are the harness's to fill
// in.
//
//go:embed audit/collector.yaml audit/durable.yaml audit/wal-queues.yaml audit/persistent-queue.yaml contrib/collector.yaml contrib/durable.yaml contrib/batch.yaml
var Configs embed.FS
