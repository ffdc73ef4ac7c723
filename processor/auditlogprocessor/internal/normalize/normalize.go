// Package normalize adds the vendor-neutral audit.* fields of
// internal/auditrecord to flattened vendor records, through the vendor's own
// package (internal/vendors/<vendor>, found in internal/vendors/registry),
// which also adds a few per-vendor fields an analyst needs (Sippy's parsed
// actor and resource, CTReplay's verb and object). Where each field comes
// from is tabled per vendor in the processor's README; keep the two in step.
package normalize // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/normalize"

import (
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"
)

// Record adds the normalized fields of r, a record from source whose
// attributes were flattened with separator sep. It returns what is wrong
// with the record (missing or unreadable fields), for audit.parse_error;
// the fields that could be derived are added regardless. A source no vendor
// answers to gets no fields.
func Record(source string, r plog.LogRecord, sep string) []string {
	v, ok := registry.Lookup(source)
	if !ok {
		return nil
	}
	return v.Normalize(r, vendors.Fields{Attrs: r.Attributes(), Sep: sep})
}
