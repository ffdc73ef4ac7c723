// Package walstorageextension is a storage extension (the collector's
// xextension/storage API, like contrib's file_storage) on pebble, a
// log-structured key-value store with a write-ahead log and group commit.
//
// Every client of one extension shares one database and so one write-ahead
// log: the two exporters' persistent queues and the auditlog processor's
// dedup window append to the same file, and one fsync makes all of their
// writes durable. A write that adds data is synced before it is
// acknowledged: inside the call, or, when the caller's context carries a
// durable.Ticket (the auditwebhook receiver's), once for the whole pipeline
// call just before the receiver answers, shared with every request waiting
// at the same time. Writes that only record progress (exporterhelper's
// read and done steps, which read or delete keys) are not synced: losing
// one in a power loss re-sends an item, it never loses one.
package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"
