package durable

import (
	"context"
	"slices"

	"go.opentelemetry.io/collector/component"
)

// A journal that holds a pipeline call on disk can leave an exporter out
// of it: an exporter far behind (its SIEM down) gets the call later, read
// back from the journal as it catches up, instead of filling its in-memory
// queue and making the webhook wait and fail. The fan-out still hands the
// call to every exporter of the pipeline; an exporter that reports its
// deliveries asks Skipped before taking it.

type skipKey struct{}

// WithSkip returns ctx telling the exporters ids to take nothing from the
// call: a journal holds it for them.
func WithSkip(ctx context.Context, ids []component.ID) context.Context {
	if len(ids) == 0 {
		return ctx
	}
	return context.WithValue(ctx, skipKey{}, ids)
}

// Skipped reports whether ctx tells the exporter id to take nothing from
// the call it comes with.
func Skipped(ctx context.Context, id component.ID) bool {
	ids, _ := ctx.Value(skipKey{}).([]component.ID)
	return slices.Contains(ids, id)
}
