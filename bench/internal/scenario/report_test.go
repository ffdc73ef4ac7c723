package scenario

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func result(target string, events int, delivered, p99, cpu float64, rssMiB uint64) Result {
	return Result{
		Target: target, EventsPerRequest: events, Clients: 8,
		AcceptedPerSec: delivered, DeliveredPerSec: delivered, SyslogPerSec: delivered, ArchivePerSec: delivered,
		P99Millis: p99, CPUPerEventMicros: cpu, PeakRSSBytes: rssMiB << 20, Complete: true,
	}
}

func verdicts(checks []Check) map[string]string {
	m := map[string]string{}
	for _, c := range checks {
		m[c.Name] = c.Verdict
	}
	return m
}

func TestEvaluate(t *testing.T) {
	withLoad := func(r Result) Result { r.Load.Accepted = 1; return r }
	tests := []struct {
		name    string
		results []Result
		want    map[string]string
	}{
		{
			name: "every target met",
			results: []Result{
				result(NameBare, 1, 20000, 1, 10, 10),
				result(NameContrib, 1, 3000, 10, 300, 45),
				withLoad(result(NameAudit, 1, 10000, 5, 60, 80)),
				withLoad(result(NameAudit, 100, 30000, 50, 20, 120)),
			},
			want: map[string]string{
				"delivered vs contrib": Pass, "delivered vs bare ceiling": Pass, "ack latency p99": Pass,
				"peak RSS": Pass, "per-event cost": Pass,
				"delivery complete: contrib, 1/req": Pass, "delivery complete: otelcol-audit, 1/req": Pass,
				"delivery complete: otelcol-audit, 100/req": Pass,
			},
		},
		{
			name: "every target missed",
			results: []Result{
				result(NameBare, 1, 20000, 1, 10, 10),
				result(NameContrib, 1, 3000, 10, 300, 45),
				withLoad(result(NameAudit, 1, 8999, 20, 60, 80)),
				func() Result {
					r := withLoad(result(NameAudit, 100, 30000, 50, 61, 150))
					r.Complete = false
					return r
				}(),
			},
			want: map[string]string{
				"delivered vs contrib": Fail, "delivered vs bare ceiling": Fail, "ack latency p99": Fail,
				"peak RSS": Fail, "per-event cost": Fail,
				"delivery complete: contrib, 1/req": Pass, "delivery complete: otelcol-audit, 1/req": Pass,
				"delivery complete: otelcol-audit, 100/req": Fail,
			},
		},
		{
			// Issue 7's checks judge the in-memory run when there is one:
			// the durable run alone would fail "vs contrib" here.
			name: "issue 7 judged in memory beside a durable run",
			results: []Result{
				result(NameBare, 1, 20000, 1, 10, 10),
				result(NameContrib, 1, 3000, 10, 300, 45),
				withLoad(result(NameAuditMemory, 1, 10000, 5, 24, 80)),
				withLoad(result(NameAuditMemory, 100, 30000, 50, 20, 120)),
				withLoad(result(NameAudit, 1, 5000, 25, 200, 80)),
			},
			want: map[string]string{
				"delivered vs contrib": Pass, "delivered vs bare ceiling": Pass, "ack latency p99": Pass,
				"peak RSS": Pass, "per-event cost": Pass,
				"durable vs in memory, 1/req":                    Fail,
				"in-memory CPU/event vs bare":                    Pass,
				"delivery complete: contrib, 1/req":              Pass,
				"delivery complete: otelcol-audit-memory, 1/req": Pass, "delivery complete: otelcol-audit-memory, 100/req": Pass,
				"delivery complete: otelcol-audit, 1/req": Pass,
			},
		},
		{
			name:    "runs missing",
			results: []Result{result(NameBare, 1, 20000, 1, 10, 10)},
			want: map[string]string{
				"delivered vs contrib": NA, "delivered vs bare ceiling": NA, "ack latency p99": NA,
				"peak RSS": NA, "per-event cost": NA,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, verdicts(Evaluate(tt.results, 100)))
		})
	}
}

func TestWriteTable(t *testing.T) {
	results := []Result{result(NameBare, 1, 20000, 1, 10, 10), result(NameContrib, 1, 3000, 10, 300, 45)}
	results[1].Problems = []string{"sink: 3 messages not RFC 5424"}
	var out bytes.Buffer
	require.NoError(t, WriteTable(&out, results, Evaluate(results, 100)))
	text := out.String()
	assert.Contains(t, text, "delivered ev/s")
	assert.Contains(t, text, "note: contrib, 1/req: sink: 3 messages not RFC 5424")
	assert.Contains(t, text, "delivery complete: contrib, 1/req")
	assert.Contains(t, text, Pass)
	assert.Contains(t, text, NA)
}

// Every row has a value under every heading, the harness's own CPU per
// event beside the target's.
func TestWriteTableColumnsLineUp(t *testing.T) {
	r := result(NameAudit, 1, 10000, 5, 60, 80)
	r.HarnessCPUPerEventMicros, r.HarnessCores, r.CPUCores = 12.3, 0.45, 0.98
	var out bytes.Buffer
	require.NoError(t, WriteTable(&out, []Result{r}, nil))
	lines := strings.Split(out.String(), "\n")
	cells := func(line string) []string { return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1) }
	header, row := cells(lines[0]), cells(lines[1])
	require.Len(t, row, len(header), "header %q, row %q", header, row)
	col := map[string]string{}
	for i, h := range header {
		col[h] = row[i]
	}
	assert.Equal(t, "60.0", col["CPU us/ev"])
	assert.Equal(t, "12.3", col["harness us/ev"])
	assert.Equal(t, "0.98", col["cores"])
	assert.Equal(t, "0.45", col["harness cores"])
}
