package registry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// Every source the record contract names has its vendor, in the contract's
// order, and nothing else is registered.
func TestEverySourceHasItsVendor(t *testing.T) {
	var got []string
	for _, v := range all {
		got = append(got, v.Source())
	}
	assert.Equal(t, auditrecord.Sources, got)
	for _, s := range auditrecord.Sources {
		v, ok := Lookup(s)
		require.True(t, ok, s)
		assert.Equal(t, s, v.Source())
	}
	_, ok := Lookup("otelcol-audit")
	assert.False(t, ok, "no vendor for an unknown source")
}
