package scenario

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/otelcol-audit/otelcol-audit/bench/internal/archivefollow"
	"github.com/otelcol-audit/otelcol-audit/bench/internal/sink"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"
)

// Spec is one scenario.
type Spec struct {
	Target           Target
	EventsPerRequest int
	Clients          int
	// Secret signs requests when not empty (and is given to the target).
	Secret string
	// Retry sends refused requests again, as a webhook sender does.
	Retry bool
	// CheckEvery is how often the sink checks a message against RFC 5424
	// (1: every message; 0 means 1).
	CheckEvery int
	// Warmup is excluded from the figures; Duration is measured.
	Warmup, Duration time.Duration
	// Drain is how long, after the load stops, every acknowledged event
	// has to reach the sink and the archivefollow.
	Drain time.Duration
	// WorkDir gets the run's folder (removed afterwards unless Keep) and
	// the target's log, <name>-<events>.log.
	WorkDir string
	Keep    bool
	// StartTimeout bounds the wait for the target to listen.
	StartTimeout time.Duration
	// HarnessProfile, when set, is where the harness writes a CPU profile
	// of itself over the measured window. Its samples carry the label
	// "harness" naming the part that spent them (clients, sink, archive,
	// edges; none: the Go runtime, mostly GC), so
	// `go tool pprof -tags FILE` splits the harness's CPU by part.
	HarnessProfile string
}

// Result is one scenario's figures. Rates are per second of the measured
// window; counts named Total cover the whole run (warm-up, window, drain).
type Result struct {
	Target           string  `json:"target"`
	Label            string  `json:"label"`
	EventsPerRequest int     `json:"events_per_request"`
	Clients          int     `json:"clients"`
	Signed           bool    `json:"signed"`
	WindowSeconds    float64 `json:"window_seconds"`

	AcceptedPerSec float64 `json:"accepted_events_per_sec"`
	// SyslogPerSec and ArchivePerSec count distinct events reaching the
	// sink and the archive during the window; DeliveredPerSec is the
	// smaller (an event is delivered when it is in both). For the bare
	// server, which delivers nothing, it is the accepted rate: the ceiling.
	SyslogPerSec    float64 `json:"syslog_events_per_sec"`
	ArchivePerSec   float64 `json:"archive_events_per_sec"`
	DeliveredPerSec float64 `json:"delivered_events_per_sec"`

	P50Millis float64 `json:"ack_p50_ms"`
	P90Millis float64 `json:"ack_p90_ms"`
	P99Millis float64 `json:"ack_p99_ms"`
	// MeanMillis with the clients gives the request rate a closed loop
	// can reach: clients / mean.
	MeanMillis float64 `json:"ack_mean_ms"`
	MaxMillis  float64 `json:"ack_max_ms"`

	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// CPUPerEventMicros is the target's CPU time (user+system) during the
	// window divided by the events accepted in it.
	CPUPerEventMicros float64 `json:"cpu_us_per_event"`
	// CPUPerAnsweredEventMicros divides the same CPU time by the events of
	// every answered request, refused ones included: the processing cost
	// when the collector refuses much of its load.
	CPUPerAnsweredEventMicros float64 `json:"cpu_us_per_answered_event"`
	CPUCores                  float64 `json:"cpu_cores"`
	// HarnessCores is the harness's own CPU use (clients, sink, archive
	// reader) during the window, on the same cores, and
	// HarnessCPUPerEventMicros the same CPU time divided by the events
	// accepted in the window: what the harness takes per event from the
	// cores it shares with the target.
	HarnessCores             float64 `json:"harness_cpu_cores"`
	HarnessCPUPerEventMicros float64 `json:"harness_cpu_us_per_event"`

	Load loadgen.Result `json:"load"`

	TotalAcked        uint64 `json:"total_acked_events"`
	SyslogDelivered   uint64 `json:"total_syslog_events"`
	ArchiveDelivered  uint64 `json:"total_archive_events"`
	SyslogMissing     uint64 `json:"syslog_missing"`
	ArchiveMissing    uint64 `json:"archive_missing"`
	SyslogDuplicates  uint64 `json:"syslog_duplicates"`
	ArchiveDuplicates uint64 `json:"archive_duplicates"`
	// SyslogUnacked and ArchiveUnacked count events delivered although no
	// request carrying them was answered 2xx: a refused request that was
	// partly forwarded anyway (a retrying sender then makes duplicates).
	SyslogUnacked  uint64 `json:"syslog_unacked"`
	ArchiveUnacked uint64 `json:"archive_unacked"`
	// Complete is true when every acknowledged event reached the sink and
	// the archive before the drain deadline (always true for bare).
	Complete     bool    `json:"complete"`
	DrainSeconds float64 `json:"drain_seconds"`

	Sink    sink.Stats          `json:"sink"`
	Archive archivefollow.Stats `json:"archive"`
	LogPath string              `json:"log_path"`
	// Problems lists what went wrong that the figures do not show.
	Problems []string `json:"problems,omitempty"`
}

// snapshot is what is counted at a window edge. The archive is not read
// then: mark says how long its files were, and archive is filled in when
// the archive has been read up to mark, after the load.
type snapshot struct {
	syslog, archive uint64
	mark            archivefollow.Mark
	markErr         error
	cpu             time.Duration
	cpuErr          error
	harnessCPU      time.Duration
}

// Run runs spec and returns its figures. An error means the scenario could
// not be measured at all (the target did not start or died).
func Run(ctx context.Context, spec Spec) (res Result, err error) {
	t := spec.Target
	res = Result{
		Target: t.Name, Label: t.Label, EventsPerRequest: spec.EventsPerRequest,
		Clients: spec.Clients, Signed: spec.Secret != "",
		WindowSeconds: spec.Duration.Seconds(),
	}
	if err := os.MkdirAll(spec.WorkDir, 0o755); err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp(spec.WorkDir, fmt.Sprintf("%s-%d-", t.Name, spec.EventsPerRequest))
	if err != nil {
		return res, err
	}
	if !spec.Keep {
		defer os.RemoveAll(dir)
	}
	scheme := loadid.NewScheme(nonce())
	var acked, atSink, inArchive loadid.Set

	// The sink's goroutines inherit the label of the one that starts them.
	var snk *sink.Sink
	labelled(ctx, partSink, func() {
		snk, err = sink.Listen("127.0.0.1:0", scheme, &atSink, max(spec.CheckEvery, 1))
	})
	if err != nil {
		return res, err
	}
	defer snk.Close()
	port, err := proc.FreePort()
	if err != nil {
		return res, err
	}
	env := Env{
		Dir:         dir,
		HTTPAddr:    "127.0.0.1:" + strconv.Itoa(port),
		SinkAddr:    snk.Addr(),
		ArchivePath: filepath.Join(dir, "archive", "audit.jsonl"),
		Secret:      spec.Secret,
	}
	if err := os.MkdirAll(filepath.Dir(env.ArchivePath), 0o755); err != nil {
		return res, err
	}
	program, args, environ, err := t.Command(env)
	if err != nil {
		return res, err
	}
	res.LogPath = filepath.Join(spec.WorkDir, fmt.Sprintf("%s-%d.log", t.Name, spec.EventsPerRequest))
	child, err := proc.Start(program, args, environ, res.LogPath)
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := child.Stop(10 * time.Second); stopErr != nil {
			res.Problems = append(res.Problems, stopErr.Error())
		}
	}()
	if err := child.WaitListening(ctx, env.HTTPAddr, spec.StartTimeout); err != nil {
		return res, fmt.Errorf("%s: %w (log: %s)", t.Label, err, res.LogPath)
	}

	// The archive is read after the load, up to the marks taken at the
	// window's edges, then to the end while draining: reading it during the
	// load would take CPU from the target.
	tailer := archivefollow.New(env.ArchivePath, scheme, &inArchive)

	// The load stops early if the target dies: its figures would mean
	// nothing.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() {
		select {
		case <-child.Exited():
			stopLoad()
		case <-loadCtx.Done():
		}
	}()

	start := time.Now()
	snap := func() snapshot {
		cpu, cpuErr := proc.CPUTime(child.PID())
		own, _ := proc.CPUTime(os.Getpid())
		sn := snapshot{syslog: atSink.Len(), cpu: cpu, cpuErr: cpuErr, harnessCPU: own}
		if t.Delivers {
			sn.mark, sn.markErr = tailer.Mark()
		}
		return sn
	}
	var begin, end snapshot
	var profileErr error
	var edges sync.WaitGroup
	labelled(ctx, partEdges, func() {
		edges.Go(func() {
			stopProfile := func() error { return nil }
			if waitUntil(loadCtx, start.Add(spec.Warmup)) {
				begin = snap()
				stopProfile, profileErr = startProfile(spec.HarnessProfile)
			}
			if waitUntil(loadCtx, start.Add(spec.Warmup+spec.Duration)) {
				end = snap()
			}
			if profileErr == nil {
				profileErr = stopProfile()
			}
		})
	})
	payloads := loadgen.NewPayloads(scheme, spec.EventsPerRequest)
	labelled(ctx, partClients, func() {
		res.Load, err = loadgen.Run(loadCtx, loadgen.Config{
			URL:     "http://" + env.HTTPAddr + WebhookPath,
			Clients: spec.Clients, Secret: spec.Secret,
			Start: start, Warmup: spec.Warmup, Duration: spec.Duration,
			Timeout: 10 * time.Second, Retry: spec.Retry,
		}, payloads, &acked)
	})
	edges.Wait()
	if profileErr != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("harness profile: %v", profileErr))
	}
	select {
	case <-child.Exited():
		return res, fmt.Errorf("%s exited during the load: %v (log: %s)", t.Label, child.ExitErr(), res.LogPath)
	default:
	}
	if err != nil {
		return res, err
	}

	if t.Delivers {
		labelled(ctx, partArchive, func() {
			if err := readToMarks(tailer, &inArchive, &begin, &end); err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("archive at the window's edges: %v", err))
			}
		})
	}
	res.setWindowFigures(spec, begin, end)
	if t.Delivers {
		drainStart := time.Now()
		var tailErr error
		res.Complete, tailErr = drain(ctx, spec.Drain, tailer, &acked, &atSink, &inArchive)
		if tailErr != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("archive: %v", tailErr))
		}
		res.DrainSeconds = time.Since(drainStart).Seconds()
		if ctx.Err() != nil { // interrupted: not a delivery failure
			return res, ctx.Err()
		}
	} else {
		res.Complete = true
	}
	if rss, err := proc.PeakRSS(child.PID()); err == nil {
		res.PeakRSSBytes = rss
	} else {
		res.Problems = append(res.Problems, fmt.Sprintf("peak RSS: %v", err))
	}
	res.TotalAcked = acked.Len()
	if t.Delivers {
		res.setDeliveryFigures(&acked, &atSink, &inArchive)
		// The RFC 5424 check of the sampled messages, left until now.
		labelled(ctx, partSink, snk.Check)
		res.Sink = snk.Stats()
		res.Archive = tailer.Stats()
	}
	res.noteProblems(spec.Drain)
	return res, nil
}

// The parts of the harness, as its CPU profile labels them.
const (
	partClients = "clients"
	partSink    = "sink"
	partArchive = "archive"
	partEdges   = "edges"
)

// labelled runs f with the pprof label harness=part; goroutines f starts
// carry it too.
func labelled(ctx context.Context, part string, f func()) {
	pprof.Do(ctx, pprof.Labels("harness", part), func(context.Context) { f() })
}

// readToMarks reads the archive up to each edge's mark and records how
// many distinct events it held then.
// On an error both counts are left at zero, and so is the window's
// archive rate.
func readToMarks(tailer *archivefollow.Tailer, inArchive *loadid.Set, edges ...*snapshot) error {
	for _, e := range edges {
		err := e.markErr
		if err == nil {
			err = tailer.PollTo(e.mark)
		}
		if err != nil {
			for _, e := range edges {
				e.archive = 0
			}
			return err
		}
		e.archive = inArchive.Len()
	}
	return nil
}

// startProfile starts profiling the harness's CPU into path, if set, and
// returns what stops it.
func startProfile(path string) (stop func() error, err error) {
	stop = func() error { return nil }
	if path == "" {
		return stop, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return stop, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return stop, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// setWindowFigures derives the per-second, latency and CPU figures of the
// measured window from the load's result and the snapshots at its edges.
func (res *Result) setWindowFigures(spec Spec, begin, end snapshot) {
	window := spec.Duration.Seconds()
	res.AcceptedPerSec = float64(res.Load.AcceptedEvents) / window
	res.P50Millis = millis(res.Load.P50)
	res.P90Millis = millis(res.Load.P90)
	res.P99Millis = millis(res.Load.P99)
	res.MeanMillis = millis(res.Load.Mean)
	res.MaxMillis = millis(res.Load.Max)
	harnessCPU := end.harnessCPU - begin.harnessCPU
	res.HarnessCores = harnessCPU.Seconds() / window
	if res.Load.AcceptedEvents > 0 {
		res.HarnessCPUPerEventMicros = float64(harnessCPU.Microseconds()) / float64(res.Load.AcceptedEvents)
	}
	if begin.cpuErr == nil && end.cpuErr == nil {
		cpu := end.cpu - begin.cpu
		res.CPUCores = cpu.Seconds() / window
		if res.Load.AcceptedEvents > 0 {
			res.CPUPerEventMicros = float64(cpu.Microseconds()) / float64(res.Load.AcceptedEvents)
		}
		if answered := res.Load.Requests - res.Load.Failed; answered > 0 {
			res.CPUPerAnsweredEventMicros = float64(cpu.Microseconds()) / float64(answered*uint64(spec.EventsPerRequest))
		}
	} else {
		res.Problems = append(res.Problems, fmt.Sprintf("cpu time: %v", errors.Join(begin.cpuErr, end.cpuErr)))
	}
	if !spec.Target.Delivers { // the bare server's ceiling
		res.DeliveredPerSec = res.AcceptedPerSec
		return
	}
	res.SyslogPerSec = float64(end.syslog-begin.syslog) / window
	res.ArchivePerSec = float64(end.archive-begin.archive) / window
	res.DeliveredPerSec = min(res.SyslogPerSec, res.ArchivePerSec)
}

// setDeliveryFigures compares, id by id, what was acknowledged with what
// reached the sink and the archive over the whole run.
func (res *Result) setDeliveryFigures(acked, atSink, inArchive *loadid.Set) {
	res.SyslogDelivered = atSink.Len()
	res.ArchiveDelivered = inArchive.Len()
	res.SyslogMissing = atSink.Missing(acked)
	res.ArchiveMissing = inArchive.Missing(acked)
	res.SyslogDuplicates = atSink.Duplicates()
	res.ArchiveDuplicates = inArchive.Duplicates()
	res.SyslogUnacked = acked.Missing(atSink)
	res.ArchiveUnacked = acked.Missing(inArchive)
}

// noteProblems says in words what the figures show only as numbers.
func (res *Result) noteProblems(drain time.Duration) {
	if res.Delivers() {
		if !res.Complete {
			res.Problems = append(res.Problems, fmt.Sprintf(
				"delivery incomplete after %s drain: %d of %d acknowledged events missing at the syslog sink, %d missing in the archive",
				drain, res.SyslogMissing, res.TotalAcked, res.ArchiveMissing))
		}
		if res.Sink.NotRFC5424 > 0 || res.Sink.FramingErrors > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("sink: %d of %d checked messages not RFC 5424, %d framing errors (first: %s)",
				res.Sink.NotRFC5424, res.Sink.Checked, res.Sink.FramingErrors, res.Sink.FirstProblem))
		}
		if len(res.Archive.Vanished) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("archive: files gone before they were read (their events count as missing): %v", res.Archive.Vanished))
		}
		if len(res.Archive.Compressed) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("archive: compressed files not counted: %v", res.Archive.Compressed))
		}
		if res.SyslogUnacked > 0 || res.ArchiveUnacked > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf(
				"%d events reached the syslog sink and %d the archive although no request carrying them was answered 2xx",
				res.SyslogUnacked, res.ArchiveUnacked))
		}
	}
	if res.Load.Failed > 0 || len(res.Load.Refused) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("load: %d requests failed, refused by status %v, %d retries (first: %s)",
			res.Load.Failed, res.Load.Refused, res.Load.Retries, res.Load.FirstFailure))
	}
}

// drain waits until every acknowledged event is at the sink and in the
// archive, or the deadline passes, and reports whether they all arrived,
// with the last error reading the archive, if any.
func drain(ctx context.Context, deadline time.Duration, tailer *archivefollow.Tailer, acked, atSink, inArchive *loadid.Set) (bool, error) {
	limit := time.Now().Add(deadline)
	for {
		err := tailer.Poll()
		if atSink.Missing(acked) == 0 && inArchive.Missing(acked) == 0 {
			return true, err
		}
		if time.Now().After(limit) || !waitUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return false, err
		}
	}
}

// waitUntil sleeps until t and reports whether ctx was still live then.
func waitUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// nonce tells one run's events from any other's.
func nonce() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
