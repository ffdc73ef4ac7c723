// Package rfc5424exporter sends audit log records to a SIEM as RFC 5424
// syslog messages over tcp, udp, tls, unix and unixgram sockets, with RFC
// 6587/5425 octet-counting or newline framing, through exporterhelper's
// timeout, retry and (optionally persistent) sending queue.
//
// The record contract it reads is ARCHITECTURE.md's; the message layout, by
// default, is the one Glassix documents for its own syslog integration.
// Formatting lives in internal/format, delivery in internal/transport.
package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"
