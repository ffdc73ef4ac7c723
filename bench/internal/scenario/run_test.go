package scenario

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/bench/internal/fakecollector"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a stand-in collector, run as a real child
	// process, so the scenario's process handling is exercised for real.
	if fakecollector.Enabled() {
		if err := fakecollector.Main(); err != nil {
			fmt.Fprintln(os.Stderr, "fake collector:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func fakeTarget(extraEnv ...string) Target {
	return Target{
		Name: NameAudit, Label: "fake collector", Delivers: true,
		Command: func(env Env) (string, []string, []string, error) {
			return os.Args[0], []string{"-test.run=^$"}, append([]string{
				fakecollector.EnvEnable + "=1",
				"BENCH_HTTP_ENDPOINT=" + env.HTTPAddr,
				"BENCH_SYSLOG_ENDPOINT=" + env.SinkAddr,
				"BENCH_ARCHIVE=" + env.ArchivePath,
			}, extraEnv...), nil
		},
	}
}

func spec(t *testing.T, target Target, drain time.Duration) Spec {
	return Spec{
		Target: target, EventsPerRequest: 3, Clients: 2,
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Drain: drain,
		WorkDir: t.TempDir(), StartTimeout: time.Minute,
	}
}

func TestRunMeasuresACompleteDelivery(t *testing.T) {
	s := spec(t, fakeTarget(), time.Minute)
	res, err := Run(context.Background(), s)
	require.NoError(t, err)

	assert.True(t, res.Complete, "problems: %v", res.Problems)
	assert.Positive(t, res.TotalAcked)
	assert.Equal(t, res.TotalAcked, res.SyslogDelivered)
	assert.Equal(t, res.TotalAcked, res.ArchiveDelivered)
	assert.Zero(t, res.SyslogMissing+res.ArchiveMissing)
	assert.Zero(t, res.SyslogDuplicates+res.ArchiveDuplicates)
	assert.Zero(t, res.Sink.NotRFC5424, res.Sink.FirstProblem)
	assert.Zero(t, res.Sink.FramingErrors)
	assert.Equal(t, res.TotalAcked, res.Archive.Lines, "one archive line per event")
	assert.Positive(t, res.AcceptedPerSec)
	assert.Positive(t, res.DeliveredPerSec)
	// The archive was read after the load, up to the window's marks: its
	// window rate counts events of the window only.
	assert.Positive(t, res.ArchivePerSec)
	assert.LessOrEqual(t, res.ArchivePerSec*res.WindowSeconds, float64(res.ArchiveDelivered))
	assert.Positive(t, res.SyslogPerSec)
	assert.LessOrEqual(t, res.SyslogPerSec*res.WindowSeconds, float64(res.SyslogDelivered))
	// Every message was sampled (CheckEvery 0 means 1) and checked after
	// the load.
	assert.Equal(t, res.Sink.Messages, res.Sink.Sampled)
	assert.Equal(t, res.Sink.Sampled, res.Sink.Checked)
	assert.Positive(t, res.HarnessCPUPerEventMicros)
	assert.Positive(t, res.PeakRSSBytes)
	assert.Empty(t, res.Problems)
	assert.FileExists(t, res.LogPath)
	entries, err := os.ReadDir(s.WorkDir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the log is left behind: %v", entries)
}

// The window's figures from known counts: a 2 s window in which 1000
// events were accepted in 400 requests (3 events each, 50 of them without
// an answer), the harness used 0.5 s of CPU and the target 1.5 s, and the
// sink's and the archive's counts grew by 1000 and 800.
func TestWindowFiguresFromKnownCounts(t *testing.T) {
	spec := Spec{Target: Target{Delivers: true}, Duration: 2 * time.Second, EventsPerRequest: 3}
	begin := snapshot{syslog: 100, archive: 500, cpu: 3 * time.Second, harnessCPU: time.Second}
	end := snapshot{syslog: 1100, archive: 1300, cpu: 4500 * time.Millisecond, harnessCPU: 1500 * time.Millisecond}
	res := Result{Load: loadgen.Result{Requests: 400, Failed: 50, AcceptedEvents: 1000,
		P50: 1500 * time.Microsecond, P90: 12 * time.Millisecond, P99: 250 * time.Millisecond,
		Mean: 4 * time.Millisecond, Max: time.Second}}
	res.setWindowFigures(spec, begin, end)

	assert.Equal(t, 500.0, res.AcceptedPerSec)
	assert.Equal(t, 0.25, res.HarnessCores)
	assert.Equal(t, 500.0, res.HarnessCPUPerEventMicros)
	assert.Equal(t, 0.75, res.CPUCores)
	assert.Equal(t, 1500.0, res.CPUPerEventMicros)
	// 350 answered requests of 3 events: 1.5 s / 1050 events.
	assert.InDelta(t, 1428.571, res.CPUPerAnsweredEventMicros, 0.001)
	assert.Equal(t, 500.0, res.SyslogPerSec)
	assert.Equal(t, 400.0, res.ArchivePerSec)
	assert.Equal(t, 400.0, res.DeliveredPerSec, "the slower of the two")
	assert.Equal(t, []float64{1.5, 12, 250, 4, 1000},
		[]float64{res.P50Millis, res.P90Millis, res.P99Millis, res.MeanMillis, res.MaxMillis})
	assert.Empty(t, res.Problems)
}

// A target that delivers nowhere (the bare HTTP server) "delivers" what it
// accepts; a target whose CPU time cannot be read gets no CPU figures and
// a problem saying so.
func TestWindowFiguresWithoutDeliveryOrCPU(t *testing.T) {
	spec := Spec{Target: Target{Delivers: false}, Duration: 4 * time.Second, EventsPerRequest: 1}
	res := Result{Load: loadgen.Result{Requests: 200, AcceptedEvents: 200}}
	res.setWindowFigures(spec, snapshot{cpuErr: os.ErrNotExist}, snapshot{syslog: 7, archive: 7})

	assert.Equal(t, 50.0, res.AcceptedPerSec)
	assert.Equal(t, 50.0, res.DeliveredPerSec)
	assert.Zero(t, res.SyslogPerSec+res.ArchivePerSec)
	assert.Zero(t, res.CPUCores+res.CPUPerEventMicros+res.CPUPerAnsweredEventMicros)
	assert.Equal(t, []string{"cpu time: file does not exist"}, res.Problems)
}

func TestRunReportsEventsNeverDelivered(t *testing.T) {
	res, err := Run(context.Background(), spec(t, fakeTarget("FAKE_DROP_EVERY=7"), 500*time.Millisecond))
	require.NoError(t, err)

	assert.False(t, res.Complete)
	assert.Equal(t, res.TotalAcked/7, res.SyslogMissing, "every 7th acknowledged event is lost")
	assert.Zero(t, res.ArchiveMissing)
	assert.Equal(t, res.TotalAcked, res.SyslogDelivered+res.SyslogMissing)
	require.NotEmpty(t, res.Problems)
	assert.Contains(t, res.Problems[0], "delivery incomplete")
}

func TestRunFailsWhenTheTargetDies(t *testing.T) {
	_, err := Run(context.Background(), spec(t, fakeTarget("FAKE_EXIT_AFTER=5"), time.Minute))
	assert.ErrorContains(t, err, "exited during the load")
}

func TestRunFailsWhenTheTargetNeverListens(t *testing.T) {
	target := fakeTarget("BENCH_SYSLOG_ENDPOINT=127.0.0.1:1") // cannot reach its SIEM: exits at once
	_, err := Run(context.Background(), spec(t, target, time.Minute))
	assert.ErrorContains(t, err, "exited before listening")
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := spec(t, fakeTarget(), time.Minute)
	s.Duration = time.Hour
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	_, err := Run(ctx, s)
	assert.ErrorIs(t, err, context.Canceled)
}
