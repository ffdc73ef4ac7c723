// Command harness is the load harness behind `make bench`: it runs the bare
// HTTP server, the contrib comparison distribution and otelcol-audit one
// after the other under the same Glassix webhook load, counts what reaches a
// TCP syslog sink and the archive, and prints a table, the ratios and the
// project's targets with PASS/FAIL, plus the same as JSON.
//
// It exits 1 when a run could not be measured or when an acknowledged event
// never reached the sink or the archive within the drain deadline (and,
// with -strict, when a target fails). See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-audit/otelcol-audit/bench/internal/scenario"
)

type options struct {
	collector, contrib string
	targets            []string
	clients            int
	events             []int
	warmup, duration   time.Duration
	drain, startWait   time.Duration
	sign, retry        bool
	checkEvery         int
	secret             string
	queue              scenario.Queue
	overlays           overlayFlag
	workDir, jsonPath  string
	keep, strict       bool
	harnessProfile     bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare-server" {
		if err := bareServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bare-server:", err)
			os.Exit(1)
		}
		return
	}
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
	}
	stop()
	os.Exit(code)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.collector, "collector", "_build/otelcol-audit", "otelcol-audit binary")
	fs.StringVar(&o.contrib, "contrib", "_build/otelcol-contrib-bench", "contrib comparison binary (bench/contrib/build.sh)")
	targets := fs.String("targets", "bare,contrib,contrib-durable,contrib-batch,otelcol-audit-memory,otelcol-audit", "comma-separated targets to run, in this order")
	fs.IntVar(&o.clients, "clients", 8, "concurrent keep-alive clients")
	events := fs.String("events", "1,100", "events per request: otelcol-audit runs with each; bare and contrib with the first")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "load before the measured window (excluded)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured window")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "time after the load for every acked event to be delivered")
	fs.DurationVar(&o.startWait, "start-timeout", 60*time.Second, "time for a target to start listening")
	fs.BoolVar(&o.sign, "sign", false, "sign requests with X-Hub-Signature (otelcol-audit verifies; contrib cannot)")
	fs.IntVar(&o.checkEvery, "check-every", 16, "check every n-th syslog message of a connection against RFC 5424 (1: all; parsing competes for the cores)")
	fs.BoolVar(&o.retry, "retry", true, "send refused (429, 5xx) and failed requests again, same events, after Retry-After (10ms-1s), as Glassix does")
	fs.StringVar(&o.secret, "secret", "bench-glassix-secret", "webhook secret used with -sign")
	queue := fs.String("queue", string(scenario.QueueWAL), "otelcol-audit's durability: walstorage (as shipped: the auditlog journal and dedup window, fsynced), walstorage-queues (both exporters' persistent queues in walstorage, shipped before the journal), file_storage (no fsync) or memory")
	inMemory := fs.Bool("in-memory", false, "run the otelcol-audit target with in-memory queues (same as -queue memory)")
	fs.Var(&o.overlays, "audit-config", "extra otelcol-audit config file merged over the harness's (repeatable), to try a setting")
	fs.StringVar(&o.workDir, "workdir", "_build/bench", "folder for the runs' files and the targets' logs")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON here (default <workdir>/results.json)")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's folder (configs, archive)")
	fs.BoolVar(&o.strict, "strict", false, "also exit 1 when a target FAILs")
	fs.BoolVar(&o.harnessProfile, "harness-profile", false, "write a CPU profile of the harness over each measured window to <workdir>/harness-<target>-<events>.pprof (labelled by part: go tool pprof -tags)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var problems []error
	for t := range strings.SplitSeq(*targets, ",") {
		t = strings.TrimSpace(t)
		switch t {
		case scenario.NameBare, scenario.NameContrib, scenario.NameContribDurable, scenario.NameContribBatch,
			scenario.NameAudit, scenario.NameAuditMemory:
			o.targets = append(o.targets, t)
		default:
			problems = append(problems, fmt.Errorf("-targets: unknown target %q (want bare, contrib, contrib-durable, contrib-batch, otelcol-audit, otelcol-audit-memory)", t))
		}
	}
	o.queue = scenario.Queue(*queue)
	if *inMemory {
		o.queue = scenario.QueueMemory
	}
	switch o.queue {
	case scenario.QueueWAL, scenario.QueueWALQueues, scenario.QueueFile, scenario.QueueMemory:
	default:
		problems = append(problems, fmt.Errorf("-queue: unknown queue %q (want walstorage, walstorage-queues, file_storage or memory)", *queue))
	}
	for e := range strings.SplitSeq(*events, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(e))
		if err != nil || n < 1 {
			problems = append(problems, fmt.Errorf("-events: %q is not a positive number", e))
			continue
		}
		o.events = append(o.events, n)
	}
	if o.checkEvery < 1 {
		problems = append(problems, errors.New("-check-every: must be at least 1"))
	}
	if o.clients < 1 {
		problems = append(problems, errors.New("-clients: must be at least 1"))
	}
	if o.duration <= 0 {
		problems = append(problems, errors.New("-duration: must be positive"))
	}
	if o.warmup < 0 || o.drain < 0 {
		problems = append(problems, errors.New("-warmup and -drain: must not be negative"))
	}
	if o.sign && o.secret == "" {
		problems = append(problems, errors.New("-secret: must not be empty with -sign"))
	}
	if o.jsonPath == "" {
		o.jsonPath = filepath.Join(o.workDir, "results.json")
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintln(stderr, err)
		return o, err
	}
	return o, nil
}

// plan lists the scenarios of a run: otelcol-audit at every events-per-
// request value, the others at the first only (contrib's OTTL turns only
// changes[0] of a Glassix body into an event, so more would be lost by
// design; the bare server is the 1-event ceiling).
func plan(o options) ([]scenario.Spec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	secret := ""
	if o.sign {
		secret = o.secret
	}
	var specs []scenario.Spec
	add := func(t scenario.Target, events int) {
		spec := scenario.Spec{
			Target: t, EventsPerRequest: events, Clients: o.clients, Secret: secret, Retry: o.retry,
			CheckEvery: o.checkEvery,
			Warmup:     o.warmup, Duration: o.duration, Drain: o.drain,
			WorkDir: o.workDir, Keep: o.keep, StartTimeout: o.startWait,
		}
		if o.harnessProfile {
			spec.HarnessProfile = filepath.Join(o.workDir, fmt.Sprintf("harness-%s-%d.pprof", t.Name, events))
		}
		specs = append(specs, spec)
	}
	var missing []error
	for _, name := range o.targets {
		switch name {
		case scenario.NameBare:
			add(scenario.Bare(self), o.events[0])
		case scenario.NameContrib, scenario.NameContribDurable, scenario.NameContribBatch:
			if err := executable(o.contrib); err != nil && !slices.ContainsFunc(missing, func(e error) bool { return strings.HasPrefix(e.Error(), "contrib binary") }) {
				missing = append(missing, fmt.Errorf("contrib binary: %w (build it with bash bench/contrib/build.sh)", err))
			}
			t := map[string]func(string) scenario.Target{
				scenario.NameContrib:        scenario.Contrib,
				scenario.NameContribDurable: scenario.ContribDurable,
				scenario.NameContribBatch:   scenario.ContribBatch,
			}[name]
			add(t(o.contrib), o.events[0])
		case scenario.NameAudit, scenario.NameAuditMemory:
			if err := executable(o.collector); err != nil && !slices.ContainsFunc(missing, func(e error) bool { return strings.HasPrefix(e.Error(), "otelcol-audit binary") }) {
				missing = append(missing, fmt.Errorf("otelcol-audit binary: %w (build it with make build)", err))
			}
			for _, n := range o.events {
				if name == scenario.NameAudit {
					add(scenario.Audit(o.collector, o.queue, o.overlays...), n)
				} else {
					add(scenario.AuditMemory(o.collector, o.overlays...), n)
				}
			}
		}
	}
	return specs, errors.Join(missing...)
}

// overlayFlag collects the -audit-config files, which must exist.
type overlayFlag []string

func (f *overlayFlag) String() string { return strings.Join(*f, ",") }

func (f *overlayFlag) Set(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	*f = append(*f, abs)
	return nil
}

func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Report is the JSON output.
type Report struct {
	Started  time.Time         `json:"started"`
	Host     string            `json:"host"`
	CPUs     int               `json:"cpus"`
	Settings map[string]string `json:"settings"`
	Results  []scenario.Result `json:"results"`
	Checks   []scenario.Check  `json:"checks"`
	// Complete is false when an acknowledged event was never delivered.
	Complete bool `json:"complete"`
}

func run(ctx context.Context, o options, out io.Writer) (int, error) {
	specs, err := plan(o)
	if err != nil {
		return 1, err
	}
	report := Report{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), Settings: settings(o), Complete: true}
	report.Host, _ = os.Hostname()
	var failures []error
	for _, spec := range specs {
		fmt.Fprintf(out, "running %s, %d event(s)/request, %d clients: %s warm-up + %s measured...\n",
			spec.Target.Label, spec.EventsPerRequest, spec.Clients, spec.Warmup, spec.Duration)
		res, err := scenario.Run(ctx, spec)
		if err != nil {
			failures = append(failures, fmt.Errorf("%s, %d/req: %w", spec.Target.Name, spec.EventsPerRequest, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(out, "  accepted %.0f ev/s, delivered %.0f ev/s, p99 %.2f ms, peak RSS %.1f MiB, complete: %t\n",
			res.AcceptedPerSec, res.DeliveredPerSec, res.P99Millis, float64(res.PeakRSSBytes)/(1<<20), res.Complete)
		report.Results = append(report.Results, res)
		report.Complete = report.Complete && res.Complete
	}
	batch := o.events[len(o.events)-1]
	report.Checks = scenario.Evaluate(report.Results, batch)
	fmt.Fprintln(out)
	if err := scenario.WriteTable(out, report.Results, report.Checks); err != nil {
		return 1, err
	}
	if err := writeJSON(o.jsonPath, report); err != nil {
		failures = append(failures, err)
	} else {
		fmt.Fprintf(out, "\nJSON: %s\n", o.jsonPath)
	}
	code := 0
	if len(failures) > 0 || !report.Complete {
		code = 1
	}
	if o.strict && slices.ContainsFunc(report.Checks, func(c scenario.Check) bool { return c.Verdict == scenario.Fail }) {
		code = 1
	}
	if !report.Complete {
		failures = append(failures, errors.New("delivery incomplete: acknowledged events were not delivered within the drain deadline"))
	}
	return code, errors.Join(failures...)
}

func writeJSON(path string, report Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func settings(o options) map[string]string {
	return map[string]string{
		"collector":       o.collector,
		"contrib":         o.contrib,
		"targets":         strings.Join(o.targets, ","),
		"clients":         strconv.Itoa(o.clients),
		"events":          fmt.Sprint(o.events),
		"warmup":          o.warmup.String(),
		"duration":        o.duration.String(),
		"drain":           o.drain.String(),
		"signed":          strconv.FormatBool(o.sign),
		"retry":           strconv.FormatBool(o.retry),
		"check_every":     strconv.Itoa(o.checkEvery),
		"queue":           string(o.queue),
		"audit_config":    strings.Join(o.overlays, ","),
		"harness_profile": strconv.FormatBool(o.harnessProfile),
	}
}
