//go:build e2e

// Package e2e is the end-to-end suite: it runs the built otelcol-audit
// binary (OTELCOL_AUDIT_BIN) with the shipped collector.yaml and a
// generated overlay (free ports, temporary directories) against a real
// rsyslog server, and checks what rsyslog parsed, what the archive holds and
// that `auditctl verify` (AUDITCTL_BIN) accepts the archive — with the seed
// samples, under faults (SIEM down or restarted, collector killed, archive
// disk full) and under hostile input. Every test is in a _test.go file
// behind the e2e build tag, so `go test ./...` does not run them;
// `make e2e` does. README.md says what each test proves.
package e2e // import "github.com/otelcol-audit/otelcol-audit/e2e"
