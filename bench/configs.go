// Package bench holds the load harness (`make bench`): the collector
// configurations it runs, the contrib comparison distribution's manifest,
// and, under harness/ and internal/, the harness itself. See README.md.
package bench // import "github.com/otelcol-audit/otelcol-audit/bench"

import "embed"

// Configs holds the collector configurations the harness runs, by path:
// audit/collector.yaml, audit/persistent-queue.yaml (an overlay) and
// contrib/collector.yaml. Their ${env:BENCH_*} values are the harness's to
// fill in.
//
//go:embed audit/collector.yaml audit/persistent-queue.yaml contrib/collector.yaml
var Configs embed.FS
