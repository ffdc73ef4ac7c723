// Package registry lists the vendors the distribution knows. Components
// find a vendor here by its audit.source value; adding a vendor is adding
// its package to all.
package registry // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"

import (
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
)

// all is every vendor, in the order auditrecord.Sources lists them.
var all = []vendors.Vendor{glassix.Vendor{}, ctreplay.Vendor{}, sippy.Vendor{}}

var bySource = func() map[string]vendors.Vendor {
	m := make(map[string]vendors.Vendor, len(all))
	for _, v := range all {
		m[v.Source()] = v
	}
	return m
}()

// Lookup returns the vendor whose audit.source is source.
func Lookup(source string) (vendors.Vendor, bool) {
	v, ok := bySource[source]
	return v, ok
}
