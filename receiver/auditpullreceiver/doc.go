// Package auditpullreceiver pulls audit events from the vendors' own APIs:
// Sippy Softswitch's XML-RPC getAuditLogs, walked in time windows from a
// checkpoint kept in a storage extension, and Glassix's queue of webhook
// events, deleted only once the pipeline accepted their records. Records
// follow the same record contract as the auditwebhook receiver's, built by
// the same vendor parsers (internal/vendors).
package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"
