package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

var verifyCommand = command{
	name:    "verify",
	summary: "check an archive's hash chain, including rotated and gzipped files",
	run:     runVerify,
}

const verifyHelp = `Usage: auditctl verify [flags] PATH

Checks the archive the auditfile exporter writes at PATH (its "path", the
active file, or the directory holding it): every line's hash (and HMAC when
a key is given), the chain from line to line and file to file (rotated and
gzipped files included), the archive's start (its first line, or a start
recorded by retention) and its end (against the head file).

Prints "OK" and a summary when the archive is intact. Otherwise prints
"BROKEN", then the first broken place as FILE:LINE: KIND: explanation,
where KIND is one of modified, deleted, inserted, reordered, missing-file,
truncated, malformed, unreadable, start, head, writer-alarm.

Exit status: 0 intact, 1 broken, 2 usage error or archive not found.

Flags:
`

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyHelp)
		fs.PrintDefaults()
	}
	keyFile := fs.String("hmac-key-file", "", "read the HMAC key from `FILE` (one trailing newline is ignored)")
	keyEnv := fs.String("hmac-key-env", "", "read the HMAC key from the environment variable `NAME`")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	all := fs.Bool("all", false, "list every problem found (up to 100), not only the first")
	positional, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "auditctl verify: want exactly one PATH, got %d\n", len(positional))
		fs.Usage()
		return exitUsage
	}
	key, err := readKey(*keyFile, *keyEnv)
	if err != nil {
		fmt.Fprintf(stderr, "auditctl verify: %v\n", err)
		return exitUsage
	}
	report, err := archive.Verify(positional[0], archive.VerifyOptions{HMACKey: key})
	if err != nil {
		fmt.Fprintf(stderr, "auditctl verify: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(jsonReport{Report: report, Intact: report.Intact()}); err != nil {
			fmt.Fprintf(stderr, "auditctl verify: %v\n", err)
			return exitUsage
		}
	} else {
		printReport(stdout, report, *all)
	}
	if !report.Intact() {
		return exitProblem
	}
	return exitOK
}

type jsonReport struct {
	Intact bool `json:"intact"`
	*archive.Report
}

func readKey(file, env string) ([]byte, error) {
	switch {
	case file != "" && env != "":
		return nil, errors.New("give -hmac-key-file or -hmac-key-env, not both")
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the HMAC key: %w", err)
		}
		data = []byte(strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"))
		if len(data) == 0 {
			return nil, fmt.Errorf("the HMAC key file %s is empty", file)
		}
		return data, nil
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("the environment variable %s (-hmac-key-env) is unset or empty", env)
		}
		return []byte(v), nil
	}
	return nil, nil
}

func printReport(w io.Writer, r *archive.Report, all bool) {
	where := filepath.Join(r.Dir, r.Active)
	status := "OK"
	if !r.Intact() {
		status = "BROKEN"
	}
	fmt.Fprintf(w, "%s %s: %d files, %d lines (%d events, %d markers)", status, where, len(r.Files), r.Lines, r.Events, r.Markers)
	if r.Lines > 0 {
		fmt.Fprintf(w, ", seq %d..%d", r.FirstSeq, r.LastSeq)
	}
	if r.Head != nil {
		fmt.Fprintf(w, ", head seq %d", r.Head.Seq)
	}
	if r.HMACChecked {
		fmt.Fprint(w, ", HMAC checked")
	}
	fmt.Fprintln(w)
	shown := r.Problems
	if !all && len(shown) > 1 {
		shown = shown[:1]
	}
	for _, p := range shown {
		p.File = filepath.Join(r.Dir, p.File)
		fmt.Fprintln(w, p.String())
	}
	if more := len(r.Problems) - len(shown) + r.Omitted; more > 0 {
		hint := " (-all lists them)"
		if all {
			hint = ""
		}
		fmt.Fprintf(w, "%d more problems%s\n", more, hint)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
