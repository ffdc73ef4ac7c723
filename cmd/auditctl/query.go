package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
)

var queryCommand = command{
	name:    "query",
	summary: "list an archive's events, filtered, newest first (table, JSON lines or CSV)",
	run:     runQuery,
}

const queryHelp = `Usage: auditctl query [flags] PATH
       auditctl query [flags] --db DSN

Lists the events of the archive the auditfile exporter writes at PATH (its
"path", the active file, or the directory holding it), rotated and gzipped
files included, newest first, with the same filters and the same engine as
the auditviewer extension's page and API.

Filters (all optional, combined with AND):
  --source glassix,ctreplay,sippy   one or more sources
  --resource TEXT                   part of the Resource column, any case
  --action CODE[,CODE...]           the Action, any case; * matches anything (DELETE*, MFA_*)
  --actor TEXT                      part of the Action by column, any case
  --severity LEVEL                  at least this severe (warning: warning, err, crit, alert, emerg);
                                    =LEVEL for exactly that level
  --text TEXT                       part of any shown column or the message, any case
  --since TIME, --until TIME        inclusive bounds; RFC 3339 (2024-01-11T09:18:32Z) or a local
                                    date-time (2024-01-11T09:18, 2024-01-11 09:18:32, 2024-01-11)
                                    read in --tz; --until takes in its whole last unit
  --integrity ok|problems           only sound lines, or only lines that failed their check
  --parse failed|ok                 only records whose input was not all readable (flagged
                                    audit.parse_error; their date is when they were received),
                                    or only records read whole

Formats (--format):
  table   aligned columns, times in --tz; a line that failed its integrity
          check starts with !! and ends with the reason; a record flagged
          unparsed starts with ?? and ends with what could not be read
  json    one line per event, exactly as the archive holds it (so it stays
          verifiable); a line that failed its check is written as
          {"integrity":"modified","integrity_error":…,"file":…,"line":…,"raw":"<the line>"}
  csv     a header row, then time, source, resource, action, actor,
          client_address, severity, message, integrity, integrity_error,
          kind, file, line, seq, parse_error, time_received

Index: when the archive has an index beside it (the auditviewer
extension's, PATH.index, or the file --index names), query brings it up to
date and answers from it, which is fast whatever the archive's size;
otherwise (or with --no-index) it reads the whole archive.

Shared index: with --db DSN, query answers from the PostgreSQL index that
several collectors share (the auditviewer extension's index.postgres), from
any machine, without an archive: every collector's events, each naming its
collector (the table's and CSV's file column reads COLLECTOR/FILE; --format
json writes each row's columns with "collector" and "archive", since the
lines themselves are in each collector's archive). Give the password in
PGPASSWORD rather than in the DSN, which other users can see in ps.

Exit status: 0 success, 1 some listed line failed its integrity check or
the archive's head file is missing, 2 usage error or archive not found.

Flags:
`

// errEnough stops an export at the limit.
var errEnough = errors.New("limit reached")

func runQuery(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), queryHelp)
		fs.PrintDefaults()
	}
	params := map[string]*string{}
	for _, p := range []struct{ name, usage string }{
		{auditquery.ParamSource, "only these `SOURCES` (comma-separated)"},
		{auditquery.ParamResource, "part of the resource (`TEXT`)"},
		{auditquery.ParamAction, "these `ACTIONS` (comma-separated, * wildcard)"},
		{auditquery.ParamActor, "part of the actor (`TEXT`)"},
		{auditquery.ParamSeverity, "at least this `LEVEL` (=LEVEL: exactly)"},
		{auditquery.ParamText, "`TEXT` anywhere in the shown columns"},
		{auditquery.ParamSince, "from this `TIME` on (inclusive)"},
		{auditquery.ParamUntil, "up to this `TIME` (inclusive)"},
		{auditquery.ParamIntegrity, "ok or problems (`WHICH` lines)"},
		{auditquery.ParamParse, "failed or ok (`WHICH` records: flagged unparsed, or read whole)"},
	} {
		params[p.name] = fs.String(p.name, "", p.usage)
	}
	tz := fs.String("tz", "Local", "time `ZONE` for local times in --since/--until and the table: IANA name, UTC, Local or +hh:mm")
	limit := fs.Int("limit", 100, "print at most `N` events (0: every matching event)")
	format := fs.String("format", auditquery.FormatTable, "output `FORMAT`: table, json or csv")
	keyFile := fs.String("hmac-key-file", "", "check HMACs with the key in `FILE` (one trailing newline is ignored)")
	keyEnv := fs.String("hmac-key-env", "", "check HMACs with the key in the environment variable `NAME`")
	indexFlag := fs.String("index", "", "the archive's index `FILE` (default: PATH.index beside the archive, used when it exists)")
	noIndex := fs.Bool("no-index", false, "read the whole archive, not its index")
	dsn := fs.String("db", "", "query the PostgreSQL index collectors share at `DSN` (postgres://user@host:5432/db), without PATH")
	positional, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "auditctl query: "+format+"\n", args...)
		return exitUsage
	}
	if *dsn != "" {
		if len(positional) != 0 || *noIndex || *indexFlag != "" {
			return fail("--db: queries the shared index alone: give no PATH, --index or --no-index")
		}
		positional = []string{"--db"}
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "auditctl query: want exactly one PATH, got %d\n", len(positional))
		fs.Usage()
		return exitUsage
	}
	if *limit < 0 {
		return fail("--limit: must not be negative, got %d", *limit)
	}
	if *format != auditquery.FormatTable && *format != "json" && *format != auditquery.FormatCSV {
		return fail("--format: %q: want table, json or csv", *format)
	}
	loc, err := auditquery.LoadZone(*tz)
	if err != nil {
		return fail("--tz: %v", err)
	}
	v := url.Values{}
	for name, p := range params {
		if *p != "" {
			v.Set(name, *p)
		}
	}
	q, _, err := auditquery.ParseQuery(v, auditquery.ParseOptions{Location: loc})
	if err != nil {
		return fail("%v", flagNames(err))
	}
	key, err := readKey(*keyFile, *keyEnv)
	if err != nil {
		return fail("%v", err)
	}

	if *noIndex && *indexFlag != "" {
		return fail("--index and --no-index: choose one")
	}
	ctx := context.Background()
	var (
		sn         auditquery.Searcher
		closeIndex func()
	)
	if *dsn != "" {
		sn, closeIndex, err = openShared(ctx, *dsn)
	} else {
		sn, closeIndex, err = openSearcher(ctx, positional[0], *indexFlag, *noIndex, key, stderr)
	}
	if err != nil {
		return fail("%v", err)
	}
	defer closeIndex()
	var out auditquery.Writer
	switch *format {
	case auditquery.FormatCSV:
		out, err = auditquery.NewCSVWriter(stdout)
	case "json":
		out = auditquery.NewJSONLWriter(stdout)
	default:
		out, err = auditquery.NewTableWriter(stdout, loc)
	}
	if err != nil {
		return fail("%v", err)
	}
	printed, flagged := 0, 0
	err = sn.Export(ctx, q, *format == "json", func(r *auditquery.Row, raw []byte) error {
		if *limit > 0 && printed == *limit {
			return errEnough
		}
		printed++
		if r.Flagged() {
			flagged++
		}
		if r.Collector != "" && raw == nil {
			// A row of a shared index: its line is in its collector's
			// archive.
			if *format == "json" {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "%s\n", b)
				return err
			}
			c := *r
			c.File = r.Collector + "/" + r.File
			return out.Write(&c, nil)
		}
		return out.Write(r, raw)
	})
	if err == nil || errors.Is(err, errEnough) {
		err = out.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "auditctl query: %v\n", err)
		return exitUsage
	}
	total, err := sn.Count(ctx, q)
	if err != nil {
		fmt.Fprintf(stderr, "auditctl query: %v\n", err)
		return exitUsage
	}
	if printed < total {
		fmt.Fprintf(stderr, "auditctl query: printed the newest %d of %d matching events (--limit 0 prints all)\n", printed, total)
	}
	status := exitOK
	if flagged > 0 {
		where := positional[0]
		if *dsn != "" {
			where = "on each one's collector's archive"
		}
		fmt.Fprintf(stderr, "auditctl query: %d of the events printed failed their integrity check (marked); run auditctl verify %s\n", flagged, where)
		status = exitProblem
	}
	// Lines check themselves; the archive's end is checked against the head
	// file, so without it lines cut from the end would go unnoticed. (A
	// shared index's archives are on their collectors' machines.)
	if *dsn == "" {
		if l, err := archive.Discover(positional[0]); err == nil {
			if _, err := os.Stat(l.HeadPath()); errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(stderr, "auditctl query: the archive is broken: its head file %s is missing, so lines cut from its end would go unnoticed; run auditctl verify %s\n", l.HeadPath(), positional[0])
				status = exitProblem
			}
		}
	}
	return status
}

// flagNames words ParseQuery's errors for the command line: "since: …"
// becomes "--since: …".
func flagNames(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i := range lines {
		lines[i] = "--" + lines[i]
	}
	return strings.Join(lines, "\n")
}

// openShared opens the shared PostgreSQL index at dsn to read it.
func openShared(ctx context.Context, dsn string) (auditquery.Searcher, func(), error) {
	db, err := pgindex.New(pgindex.Options{DSN: dsn})
	if err != nil {
		return nil, nil, fmt.Errorf("--db: %w", err)
	}
	ix, err := auditquery.OpenSharedReader(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("--db: the shared index: %w", err)
	}
	return ix, func() { ix.Close() }, nil
}

// openSearcher answers from the archive's index when there is one (named,
// or beside the archive), brought up to date first; otherwise, or when the
// index cannot be used, from the whole archive read into memory.
func openSearcher(ctx context.Context, path, indexPath string, noIndex bool, key []byte, stderr io.Writer) (auditquery.Searcher, func(), error) {
	memory := func() (auditquery.Searcher, func(), error) {
		ix, err := auditquery.Open(path, auditquery.Options{HMACKey: key})
		if err != nil {
			return nil, nil, err
		}
		sn, err := ix.Refresh(ctx)
		if err != nil {
			return nil, nil, err
		}
		return auditquery.MemorySearcher{Snap: sn}, func() {}, nil
	}
	if noIndex {
		return memory()
	}
	l, err := archive.Discover(path)
	if err != nil {
		return nil, nil, err
	}
	named := indexPath != ""
	if !named {
		indexPath = sqliteindex.DefaultPath(l.ActivePath())
		if _, err := os.Stat(indexPath); err != nil {
			return memory() // no index: read the archive
		}
	}
	ix, err := auditquery.OpenDisk(ctx, path, sqliteindex.New(indexPath, sqliteindex.Options{}), auditquery.DiskOptions{HMACKey: key})
	if err == nil {
		if err = ix.Refresh(ctx); err != nil {
			ix.Close()
		}
	}
	if err != nil {
		if named {
			return nil, nil, fmt.Errorf("--index %s: %w", indexPath, err)
		}
		fmt.Fprintf(stderr, "auditctl query: cannot use the index %s (%v); reading the whole archive\n", indexPath, err)
		return memory()
	}
	return ix, func() { ix.Close() }, nil
}
