// Package auditfileexporter writes audit log records to a local,
// tamper-evident archive: one JSON object per line, every line hash-chained
// to the one before it (optionally keyed with an HMAC), with rotation by
// size and by UTC day, gzip of rotated files, retention by count and age,
// and an fsync policy. `auditctl verify` checks such an archive.
//
// The archive format (line schema, chain, head, markers, file names), the
// writer and the reader live in internal/engine/archive; this package is the
// collector component around them: configuration, factory, and the push
// function exporterhelper calls through its timeout, retry and sending
// queue.
package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"
