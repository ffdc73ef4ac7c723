// Package auditquery answers filtered, paginated, newest-first queries over
// the auditfile archive (internal/engine/archive), for the auditviewer extension
// and `auditctl query` alike: both parse the same parameters (ParseQuery),
// run them through the same Searcher and write the same CSV, JSON-lines
// and table formats.
//
// Two Searchers give the same answers (the sqliteindex tests compare them
// row for row):
//
//   - DiskIndex, the index in a database (SQLite through sqliteindex; the
//     database-specific parts behind the Dialect interface): it follows
//     the archive incrementally, keeps its state across restarts, and is
//     rebuilt from the archive when damaged. The viewer and `auditctl
//     query` use it.
//   - Index and its Snapshot (MemorySearcher), in memory, built from the
//     whole archive at every start: `auditctl query` on an archive without
//     an index, and the reference the disk index is tested against.
//
// # In-memory index
//
// Scanning and decoding a whole archive per query does not scale (a million
// events is about 600 MB of JSON), so an Index keeps a compact columnar
// summary of every line in memory, one segment per data file:
//
//   - the columns the viewer shows and filters on (time, source, resource,
//     action, actor, client address, severity; the message, cut to
//     MaxFieldBytes), strings interned per segment and column;
//   - where the line is (byte offset and length, for exports), its chain
//     seq, a 64-bit fingerprint of its bytes, and the integrity Status the
//     archive reader gave it;
//   - the segment's rows sorted newest first.
//
// A rotated file never changes, so its segment is built once (rotated files
// are indexed in parallel) and kept while the file's size and modification
// time stay the same; gzipping it does not count as a change. The active
// file is indexed incrementally: each Refresh reads only the lines
// appended since the last one, and when the writer rotates the file (same
// inode, new name) its segment becomes the rotated file's. The index only
// reads: it opens files read-only and never takes a lock the writer could
// wait for. Lines are read through the archive package's reader
// (Archive.FileEntries), so every row carries the same integrity status
// `auditctl verify` would report, including the link from one file to the
// next (Link).
//
// A query filters each segment's rows (dictionary columns are matched
// once per distinct string), merges the segments newest first, and pages by
// offset or by cursor. Exports read each matching line from its file and
// check its fingerprint, so a line changed after it was indexed is marked
// rather than shown as it was.
package auditquery // import "github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
