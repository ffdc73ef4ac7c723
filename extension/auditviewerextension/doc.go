// Package auditviewerextension serves the auditfile exporter's archive as
// Sippy's "Audit Logs Viewer" for every source: a single embedded web page
// and a JSON API to filter, page through and download audit events, with
// every line whose integrity check fails marked. It only reads the
// archive, through the shared query engine (internal/engine/auditquery), so it
// never blocks or slows the exporter.
package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"
