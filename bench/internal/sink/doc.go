// Package sink is the load harness's SIEM: a TCP syslog server that reads
// RFC 6587 frames (octet counting and newline-terminated, detected frame by
// frame), checks each message against RFC 5424 and records the events it
// carries by their ids.
package sink // import "github.com/otelcol-audit/otelcol-audit/bench/internal/sink"
