// Package auditrecord names the parts of the record contract (ARCHITECTURE.md,
// "The record contract between components") that more than one component
// reads or writes. Components agree on these names and on nothing else: no
// component reads a vendor's wire format except the one that parses it.
package auditrecord // import "github.com/otelcol-audit/otelcol-audit/internal/auditrecord"

// Resource attributes.
const (
	// AttrSource is the resource attribute naming the vendor an event came
	// from: one of SourceGlassix, SourceCTReplay, SourceSippy.
	AttrSource = "audit.source"
	// AttrServiceName carries the same value as AttrSource, so generic OTel
	// backends group the events by vendor.
	AttrServiceName = "service.name"
)

// The values of AttrSource.
const (
	SourceGlassix  = "glassix"
	SourceCTReplay = "ctreplay"
	SourceSippy    = "sippy"
)

// Sources lists every value AttrSource can take, in a stable order.
var Sources = []string{SourceGlassix, SourceCTReplay, SourceSippy}

// Record attributes that flag an event whose input was not all readable.
// Flagged records are passed on, never dropped, so the archive keeps the
// evidence. There are two kinds:
//
//   - An unreadable event (not JSON, truncated, over a bound, duplicate
//     keys, not an object): nothing could be read from it. EventName is
//     empty, there are no vendor attributes and no Timestamp from the
//     vendor, and Body is the event's raw text as received (invalid UTF-8
//     bytes replaced by U+FFFD, which OTLP requires). For text read by
//     contrib receivers the raw text stays where that receiver put it (Body,
//     or the syslog message attribute), beside that receiver's attributes.
//   - An event with a bad field (a missing or unreadable time, a missing
//     event type or action, ...): the record is complete as far as it could
//     be read. It keeps all the vendor's attributes, EventName and Body
//     (EventName is empty only when the event type itself is missing), and
//     AttrParseError names each bad field: "ts: missing",
//     `ts: cannot read "yesterday" as ...`. Timestamp is not set from an
//     unreadable time.
const (
	// AttrParseError is the parse error, as a human-readable message. Several
	// problems (a receiver's and then the auditlog processor's) are joined
	// with "; ".
	AttrParseError = "audit.parse_error"
	// AttrParseLine is the 1-based line number of the bad event within its
	// request or batch, when the input was JSON lines.
	AttrParseLine = "audit.parse_line"
)

// Normalized, vendor-neutral record attributes added by the auditlog
// processor. The per-vendor meaning of each is documented in the processor's
// README. Readers (exporters, the viewer, auditctl) use these to filter and
// display events from every vendor alike.
const (
	// AttrEventID identifies the event: the vendor's own id where it has one
	// (Glassix log.id), else a hash of the event's content. Deduplication
	// keys on it.
	AttrEventID = "audit.event_id"
	// AttrActor is who acted: a user name, login or actor string.
	AttrActor = "audit.actor"
	// AttrActorID is the actor's stable identifier where the vendor has one.
	AttrActorID = "audit.actor_id"
	// AttrTarget is on whom or what the action was done: a user, a resource.
	AttrTarget = "audit.target"
	// AttrClientAddress is the address the action came from (an IP address,
	// or a node id for Sippy).
	AttrClientAddress = "audit.client_address"
	// AttrAction is what was done, as the vendor names it (the event name).
	AttrAction = "audit.action"
	// AttrOutcome is OutcomeSuccess, OutcomeFailure or OutcomeUnknown.
	AttrOutcome = "audit.outcome"
	// AttrCategory is CategorySecurity or CategoryInformative.
	AttrCategory = "audit.category"
)

// Values of AttrOutcome.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Values of AttrCategory.
const (
	CategorySecurity    = "security"
	CategoryInformative = "informative"
)
