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

With -pubkey (the public half of the exporter's signing key; repeat it for
each key the archive was signed with across key rotations) it also checks
every signed checkpoint: its signature, that it signs the lines before it,
that checkpoints follow each other, and that the head's checkpoint is the
archive's. Only a signature proves that lines were not rewritten with their
hashes recomputed; without -pubkey verify says so. Lines written after the
last checkpoint are reported as not yet covered.

With -anchors FILE (checkpoints the SIEM received, as its log file stores
them: one syslog message per line) every checkpoint of this archive in the
file must be in the archive: one it contradicts or lacks is reported. This
catches someone who stole the private key and re-signed a rewritten
history.

Prints "OK" and a summary when the archive is intact. Otherwise prints
"BROKEN", then the first broken place as FILE:LINE: KIND: explanation,
where KIND is one of modified, deleted, inserted, reordered, missing-file,
truncated, malformed, unreadable, start, head, writer-alarm, signature,
checkpoint, anchor.

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
	var pubkeys stringList
	fs.Var(&pubkeys, "pubkey", "check signed checkpoints with the public key in `FILE` (PEM; repeatable: one per key the archive was signed with)")
	anchorsFile := fs.String("anchors", "", "compare with the checkpoints in `FILE`, as the SIEM stored them (one syslog message per line)")
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
	opts := archive.VerifyOptions{HMACKey: key}
	if len(pubkeys) > 0 {
		if opts.Keys, err = archive.KeyringFromFiles(pubkeys); err != nil {
			fmt.Fprintf(stderr, "auditctl verify: %v\n", err)
			return exitUsage
		}
	}
	if *anchorsFile != "" {
		if opts.Anchors, err = archive.ReadAnchors(*anchorsFile); err != nil {
			fmt.Fprintf(stderr, "auditctl verify: reading the anchors: %v\n", err)
			return exitUsage
		}
		if len(opts.Anchors) == 0 {
			fmt.Fprintf(stderr, "auditctl verify: %s holds no checkpoint (no %q token): is it the SIEM's file that receives the collector's checkpoints?\n", *anchorsFile, archive.TokenPrefix)
			return exitUsage
		}
	}
	report, err := archive.Verify(positional[0], opts)
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

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

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

func linesWord(n int) string {
	if n == 1 {
		return "1 line"
	}
	return fmt.Sprintf("%d lines", n)
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
	switch {
	case r.SignaturesChecked && r.Checkpoints == 0:
		fmt.Fprint(w, ", no checkpoint yet, the head's signature checked")
	case r.SignaturesChecked:
		fmt.Fprintf(w, ", %d checkpoints signed by %s checked", r.Checkpoints, strings.Join(r.KeyIDs, ", "))
	case r.Checkpoints > 0:
		fmt.Fprintf(w, ", %d checkpoints NOT checked (no -pubkey)", r.Checkpoints)
	default:
		fmt.Fprint(w, ", no signatures checked")
	}
	if r.AnchorsRead > 0 {
		fmt.Fprintf(w, ", %d of %d SIEM anchors found", r.AnchorsMatched, r.AnchorsOurs)
	}
	fmt.Fprintln(w)
	if r.SignaturesChecked {
		if r.CoveredSeq > 0 {
			fmt.Fprintf(w, "signed: seq %d..%d; not yet covered by a checkpoint: %s\n", r.FirstSeq, r.CoveredSeq, linesWord(r.UncoveredLines))
		}
	}
	shown := r.Problems
	if !all && len(shown) > 1 {
		shown = shown[:1]
	}
	inArchive := map[string]bool{r.Active + ".head": true}
	for _, f := range r.Files {
		inArchive[f] = true
	}
	for _, p := range shown {
		if inArchive[p.File] { // not the anchors file, named as given
			p.File = filepath.Join(r.Dir, p.File)
		}
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
