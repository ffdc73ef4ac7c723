// Package archive is the format of the audit archive the auditfile exporter
// writes, and the code that writes, reads and verifies it. The exporter's
// README documents the format for users; this comment is the same
// specification for the code's readers.
//
// # Files
//
// An archive is named by its active file, e.g. data/audit.jsonl (see Layout):
//
//	audit.jsonl                                 the active file, appended to
//	audit-20250102T030405.123456789Z.jsonl[.gz] rotated files, named by their rotation time (UTC), so names sort in time order
//	audit.jsonl.head                            the head: seq and hash of the last line made durable
//	audit.jsonl.partial-<time>                  a partial line a crash left, cut away at the next start
//
// # Lines
//
// One JSON object per line, with a fixed field order:
//
//	{"seq":N,"prev":"<hex>","time":…,"observed":…,"source":…,"event":…,
//	 "severity_number":…,"severity_text":…,"message":…,"attributes":{…},
//	 "resource":{…},"hash":"<hex>"[,"hmac":"<hex>"]}
//
// Markers, which the writer records about the archive itself, carry
// "marker", "time" and "detail" between prev and hash instead of the event
// fields (see the Marker* constants).
//
// # Chain
//
// hash is the SHA-256 of the line's bytes from its '{' up to, not including,
// `,"hash":"`. prev is the previous line's hash (64 zeros for seq 1); seq
// counts lines from 1. The chain runs across rotated files and restarts.
// With a key, hmac is HMAC-SHA256(key, the 32 raw bytes of hash). Hashing
// the raw bytes, rather than a re-encoding of the decoded JSON, makes a
// line's hash reproducible with nothing but sha256sum.
//
// # Guarantees and how they are kept
//
//   - Whole lines only: a batch is one write; if it fails (a full disk), the
//     file is cut back to its last whole line. A crash can leave a partial
//     last line; OpenWriter cuts it away, saves it, and records a marker.
//   - A cut tail is detectable: the head names the last durable line, and
//     is compared with the archive at start (writer) and by Verify.
//   - Retention is not tampering: before removing rotated files, the writer
//     records which files go and which line becomes the oldest; Verify
//     accepts an archive starting there, and nowhere else but seq 1.
package archive // import "github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
