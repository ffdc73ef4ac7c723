// Package auditsyslogreceiver implements the auditsyslog receiver: CTReplay's
// audit log as its winston-syslog transport sends it (RFC 3164 or RFC 5424,
// over udp, tcp, tls, unix stream and unixgram sockets), one log record per
// audit event following the project's record contract, made by the same
// CTReplay parser as the auditwebhook receiver's HTTP path. Streams are cut
// by the JSON object itself; datagrams are read by a loop that never waits
// on the pipeline; nothing read is dropped on shutdown.
package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"
