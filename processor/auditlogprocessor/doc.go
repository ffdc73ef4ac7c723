// Package auditlogprocessor implements the auditlog processor (type
// auditlog): it turns vendor audit records into what a SIEM analyst reads.
// In order, for every record:
//
//  1. Parse: a record without audit.source (from contrib's filelog, syslog,
//     tcplog or udplog receivers) is recognised by the configured source or,
//     failing that, by CTReplay's JSON shape, and CTReplay text is parsed
//     into the record contract of ARCHITECTURE.md with internal/vendors/ctreplay.
//  2. Flatten nested attributes with internal/flatten.
//  3. Normalize: add the audit.* fields of internal/auditrecord, plus
//     Sippy's parsed actor and resource and CTReplay's verb and object.
//  4. Classify the syslog severity: user rules, then built-in defaults.
//  5. Deduplicate on audit.event_id within a bounded, optionally persistent
//     window; ids are committed only once the next consumer accepted them.
//
// Bad input is flagged with audit.parse_error and passed on, never dropped.
// The README documents every rule and setting.
package auditlogprocessor // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"
