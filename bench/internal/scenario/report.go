package scenario

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The targets of issue 7, on a 2-core machine with 8 clients.
const (
	TargetContribRatio   = 3.0   // delivered events/s vs contrib's, 1 event per request
	TargetCeilingRatio   = 0.5   // delivered events/s vs the bare server's, 1 event per request
	TargetP99Millis      = 20.0  // acknowledgement p99, 1 event per request
	TargetPeakRSSMiB     = 150.0 // peak RSS in every run
	TargetClients        = 8
	TargetEventsPerCheck = 1 // events per request of the comparison runs

	// Issue 17: durable by default, at in-memory speed.
	TargetDurableVsMemory  = 0.8 // otelcol-audit (walstorage) vs otelcol-audit-memory, at every events/request
	TargetDurableVsContrib = 3.0 // otelcol-audit vs contrib-durable, 1 event per request
	TargetMemoryVsBatch    = 3.0 // otelcol-audit-memory vs contrib-batch, 1 event per request
	TargetMemoryCPUVsBare  = 2.5 // otelcol-audit-memory's CPU/event vs the bare server's, at most
)

// Check is one target, judged.
type Check struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	Measured string `json:"measured"`
	// Verdict is PASS, FAIL, or N/A when a run it needs is missing.
	Verdict string `json:"verdict"`
}

const (
	Pass = "PASS"
	Fail = "FAIL"
	NA   = "N/A"
)

// find returns the result of target at events per request, if any.
func find(results []Result, target string, events int) (Result, bool) {
	for _, r := range results {
		if r.Target == target && r.EventsPerRequest == events {
			return r, true
		}
	}
	return Result{}, false
}

func verdict(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

// Evaluate judges results against the targets. batchEvents is the larger
// events-per-request run compared with the 1-event run for per-event cost.
func Evaluate(results []Result, batchEvents int) []Check {
	var checks []Check
	// Issue 7's targets were set for, and met by, the pipeline with
	// in-memory queues (contrib's peer keeps its syslog queue in memory
	// too): judge them on otelcol-audit-memory when it ran, so that the
	// shipped durable target is not compared with a peer that promises
	// less. Issue 17's checks below compare the durable target.
	subject := NameAudit
	if _, ok := find(results, NameAuditMemory, TargetEventsPerCheck); ok {
		subject = NameAuditMemory
	}
	audit, haveAudit := find(results, subject, TargetEventsPerCheck)
	contrib, haveContrib := find(results, NameContrib, TargetEventsPerCheck)
	bare, haveBare := find(results, NameBare, TargetEventsPerCheck)

	c := Check{Name: "delivered vs contrib", Want: fmt.Sprintf(">= %.0fx contrib's delivered events/s", TargetContribRatio), Verdict: NA}
	if haveAudit && haveContrib && contrib.DeliveredPerSec > 0 {
		ratio := audit.DeliveredPerSec / contrib.DeliveredPerSec
		c.Measured = fmt.Sprintf("%.2fx (%s %.0f vs %.0f/s)", ratio, subject, audit.DeliveredPerSec, contrib.DeliveredPerSec)
		c.Verdict = verdict(ratio >= TargetContribRatio)
	}
	checks = append(checks, c)

	c = Check{Name: "delivered vs bare ceiling", Want: fmt.Sprintf(">= %.1fx the bare server's events/s", TargetCeilingRatio), Verdict: NA}
	if haveAudit && haveBare && bare.DeliveredPerSec > 0 {
		ratio := audit.DeliveredPerSec / bare.DeliveredPerSec
		c.Measured = fmt.Sprintf("%.2fx (%s %.0f vs %.0f/s)", ratio, subject, audit.DeliveredPerSec, bare.DeliveredPerSec)
		c.Verdict = verdict(ratio >= TargetCeilingRatio)
	}
	checks = append(checks, c)

	c = Check{Name: "ack latency p99", Want: fmt.Sprintf("< %.0f ms", TargetP99Millis), Verdict: NA}
	if haveAudit && audit.Load.Accepted > 0 {
		c.Measured = fmt.Sprintf("%.2f ms (%s)", audit.P99Millis, subject)
		c.Verdict = verdict(audit.P99Millis < TargetP99Millis)
	}
	checks = append(checks, c)

	checks = append(checks, ratioChecks(results)...)

	c = Check{Name: "peak RSS", Want: fmt.Sprintf("< %.0f MiB in every run", TargetPeakRSSMiB), Verdict: NA}
	var peak float64
	for _, r := range results {
		if r.Target == NameAudit || r.Target == NameAuditMemory {
			peak = max(peak, mib(r.PeakRSSBytes))
			c.Verdict = verdict(peak < TargetPeakRSSMiB)
			c.Measured = fmt.Sprintf("%.1f MiB", peak)
		}
	}
	checks = append(checks, c)

	c = Check{Name: "per-event cost", Want: fmt.Sprintf("CPU/event with %d events/request <= with 1", batchEvents), Verdict: NA}
	if batched, ok := find(results, subject, batchEvents); ok && haveAudit && batchEvents != 1 &&
		audit.CPUPerEventMicros > 0 && batched.CPUPerEventMicros > 0 {
		c.Measured = fmt.Sprintf("%.1f vs %.1f us (%s)", batched.CPUPerEventMicros, audit.CPUPerEventMicros, subject)
		c.Verdict = verdict(batched.CPUPerEventMicros <= audit.CPUPerEventMicros)
	}
	checks = append(checks, c)

	// The targets are stated for 8 clients; say so when a run used others.
	if haveAudit && audit.Clients != TargetClients {
		for i := range checks {
			if checks[i].Verdict != NA {
				checks[i].Measured += fmt.Sprintf(" [at %d clients; targets assume %d]", audit.Clients, TargetClients)
			}
		}
	}

	for _, r := range results {
		if !r.Delivers() {
			continue
		}
		checks = append(checks, Check{
			Name:     fmt.Sprintf("delivery complete: %s, %d/req", r.Target, r.EventsPerRequest),
			Want:     "every acked event at the sink and in the archive",
			Measured: fmt.Sprintf("%d acked, %d missing at sink, %d missing in archive", r.TotalAcked, r.SyslogMissing, r.ArchiveMissing),
			Verdict:  verdict(r.Complete),
		})
	}
	return checks
}

// ratioChecks are issue 17's: the shipped, durable otelcol-audit against
// itself in memory (at every events/request both ran) and against the
// durable contrib peer; otelcol-audit in memory against contrib's batch
// configuration and, for CPU per event, against the bare server.
func ratioChecks(results []Result) []Check {
	var checks []Check
	rate := func(name string, over, under Result, target float64) Check {
		c := Check{Name: name, Want: fmt.Sprintf(">= %.1fx %s's delivered events/s", target, under.Target), Verdict: NA}
		if under.DeliveredPerSec > 0 {
			ratio := over.DeliveredPerSec / under.DeliveredPerSec
			c.Measured = fmt.Sprintf("%.2fx (%.0f vs %.0f/s)", ratio, over.DeliveredPerSec, under.DeliveredPerSec)
			c.Verdict = verdict(ratio >= target)
		}
		return c
	}
	for _, d := range results {
		if d.Target != NameAudit {
			continue
		}
		if m, ok := find(results, NameAuditMemory, d.EventsPerRequest); ok {
			checks = append(checks, rate(fmt.Sprintf("durable vs in memory, %d/req", d.EventsPerRequest), d, m, TargetDurableVsMemory))
		}
	}
	d, haveDurable := find(results, NameAudit, TargetEventsPerCheck)
	if cd, ok := find(results, NameContribDurable, TargetEventsPerCheck); ok && haveDurable {
		checks = append(checks, rate("durable vs contrib-durable", d, cd, TargetDurableVsContrib))
	}
	m, haveMemory := find(results, NameAuditMemory, TargetEventsPerCheck)
	if cb, ok := find(results, NameContribBatch, TargetEventsPerCheck); ok && haveMemory {
		checks = append(checks, rate("in memory vs contrib-batch", m, cb, TargetMemoryVsBatch))
	}
	if bare, ok := find(results, NameBare, TargetEventsPerCheck); ok && haveMemory {
		c := Check{Name: "in-memory CPU/event vs bare", Want: fmt.Sprintf("<= %.1fx the bare server's CPU us/ev", TargetMemoryCPUVsBare), Verdict: NA}
		if bare.CPUPerEventMicros > 0 && m.CPUPerEventMicros > 0 {
			ratio := m.CPUPerEventMicros / bare.CPUPerEventMicros
			c.Measured = fmt.Sprintf("%.2fx (%.1f vs %.1f us)", ratio, m.CPUPerEventMicros, bare.CPUPerEventMicros)
			c.Verdict = verdict(ratio <= TargetMemoryCPUVsBare)
		}
		checks = append(checks, c)
	}
	return checks
}

// Delivers reports whether the result is of a target that forwards events.
func (r Result) Delivers() bool { return r.Target != NameBare }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// WriteTable prints the results, the ratios and the checks for a person.
func WriteTable(w io.Writer, results []Result, checks []Check) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tev/req\tclients\taccepted ev/s\tsyslog ev/s\tarchive ev/s\tdelivered ev/s\tp50 ms\tp99 ms\tpeak RSS MiB\tCPU us/ev\tharness us/ev\tcores\tharness cores\tnon-2xx\tdup\tmissing\t")
	for _, r := range results {
		syslog, arch, missing, dup := "-", "-", "-", "-"
		if r.Delivers() {
			syslog = fmt.Sprintf("%.0f", r.SyslogPerSec)
			arch = fmt.Sprintf("%.0f", r.ArchivePerSec)
			missing = fmt.Sprintf("%d", max(r.SyslogMissing, r.ArchiveMissing))
			dup = fmt.Sprintf("%d", r.SyslogDuplicates+r.ArchiveDuplicates)
		}
		var refused uint64
		for _, n := range r.Load.Refused {
			refused += n
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%d\t%s\t%s\t\n",
			r.Target, r.EventsPerRequest, r.Clients, r.AcceptedPerSec, syslog, arch, r.DeliveredPerSec,
			r.P50Millis, r.P99Millis, mib(r.PeakRSSBytes), r.CPUPerEventMicros, r.HarnessCPUPerEventMicros, r.CPUCores, r.HarnessCores,
			refused+r.Load.Failed, dup, missing)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range results {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "note: %s, %d/req: %s\n", r.Target, r.EventsPerRequest, p)
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\twant\tmeasured\tverdict")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Want, orDash(c.Measured), c.Verdict)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
