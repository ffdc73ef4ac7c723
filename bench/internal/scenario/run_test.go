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
	assert.InDelta(t, res.HarnessCores*res.WindowSeconds*1e6/float64(res.Load.AcceptedEvents), res.HarnessCPUPerEventMicros, 0.01*res.HarnessCPUPerEventMicros)
	assert.Positive(t, res.PeakRSSBytes)
	assert.Empty(t, res.Problems)
	assert.FileExists(t, res.LogPath)
	entries, err := os.ReadDir(s.WorkDir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the log is left behind: %v", entries)
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
