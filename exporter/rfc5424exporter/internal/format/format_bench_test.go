package format

import (
	"testing"

	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
)

// BenchmarkFormat formats seed 000's Glassix event: as the auditlog
// processor leaves it (flat attributes) and as it arrives without one
// (nested attributes, flattened here).
func BenchmarkFormat(b *testing.B) {
	for _, tc := range []struct {
		name string
		flat bool
	}{{"flat", true}, {"nested", false}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFormatter(b, Options{Hostname: "collector-1", MaxSize: 8192})
			res, rec := glassixRecord(b)
			if tc.flat {
				flatten.InPlace(rec.Attributes(), flatten.Options{})
			}
			buf := make([]byte, 0, 4096)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, _, err = f.Append(buf[:0], res, rec)
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(size), "bytes/msg")
		})
	}
}
