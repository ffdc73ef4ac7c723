// Package auditselfreceiver implements the auditself receiver: it brings
// the collector's own audit events into a pipeline. Stream checkpoints
// carries the auditfile exporter's signed checkpoints (sent to the SIEM, so
// that a copy of each leaves the host); stream viewer carries the audit
// viewer's record of its use (failed logins, queries, downloads), archived
// and sent like any audit event. See internal/selfaudit for the hand-off.
package auditselfreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver"
