package durable

import (
	"iter"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// EventIDs yields each of ld's records' ordinal (counted across resources
// and scopes, from 0: the ordinal Settled's which is asked about) and its
// audit.event_id, "" for a record without one.
func EventIDs(ld plog.Logs) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		ord := 0
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k, ord = k+1, ord+1 {
					id := ""
					if v, ok := lrs.At(k).Attributes().Get(auditrecord.AttrEventID); ok {
						id = v.Str()
					}
					if !yield(ord, id) {
						return
					}
				}
			}
		}
	}
}
