// Command genarchive writes a realistic audit archive for measuring the
// query engine: mixed Glassix, CTReplay and Sippy events, normalized by the
// real auditlog processor and written by the real archive writer (hash
// chain, size rotation, gzipped rotated files).
//
//	go run ./bench/genarchive -out _build/archive-1m -events 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

func main() {
	out := flag.String("out", "", "directory to write the archive to (audit.jsonl inside); must not hold one already")
	events := flag.Int("events", 1_000_000, "number of events")
	batch := flag.Int("batch", 1000, "events per batch (one write and fsync each)")
	maxMB := flag.Int("max-mb", 100, "rotate the active file at this many MiB (the exporter's rotation::max_megabytes)")
	compress := flag.Bool("gzip", true, "gzip rotated files")
	seed := flag.Uint64("seed", 1, "random seed")
	step := flag.Duration("step", time.Second, "time between consecutive events")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genarchive: -out is required")
		flag.Usage()
		os.Exit(2)
	}
	path := filepath.Join(*out, "audit.jsonl")
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(os.Stderr, "genarchive: %s exists; choose an empty directory\n", path)
		os.Exit(2)
	}
	start := time.Now()
	opts := archive.WriterOptions{Path: path, MaxSize: int64(*maxMB) << 20, Compress: *compress, Fsync: archive.FsyncInterval}
	if err := auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(*seed, *step), *events, *batch); err != nil {
		fmt.Fprintf(os.Stderr, "genarchive: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d events to %s in %s\n", *events, path, time.Since(start).Round(time.Millisecond))
}
