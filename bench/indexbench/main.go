// Command indexbench measures the disk index (auditquery.DiskIndex in
// SQLite) on an archive made by genarchive, as the auditviewer extension
// uses it:
//
//	go run ./bench/indexbench -archive _build/archive-1m -build
//	go run ./bench/indexbench -archive _build/archive-1m
//
// With -build it deletes the index and builds it from the archive (the
// ingest rate, the index's size against the archive's uncompressed size).
// Then, as after a restart, it opens the index, refreshes it and answers a
// first query (the time to the first answer), runs the target queries
// (median and worst of -runs), and reports the process's peak resident
// memory (VmHWM): run it without -build to measure a restarted viewer.
package main

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
)

func main() {
	dir := flag.String("archive", "", "the archive (genarchive's -out directory, or its audit.jsonl)")
	indexPath := flag.String("index", "", "the index file (default: beside the archive, audit.jsonl.index)")
	build := flag.Bool("build", false, "delete the index and build it from the archive first")
	runs := flag.Int("runs", 20, "times each query runs")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "indexbench: -archive is required")
		os.Exit(2)
	}
	if err := run(*dir, *indexPath, *build, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
}

func run(path, indexPath string, build bool, runs int) error {
	ctx := context.Background()
	a, err := archive.Open(path)
	if err != nil {
		return err
	}
	if indexPath == "" {
		indexPath = sqliteindex.DefaultPath(a.Layout.ActivePath())
	}
	db := sqliteindex.New(indexPath, sqliteindex.Options{})
	if build {
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(indexPath + s)
		}
		start, cpu0 := time.Now(), cpuTime()
		ix, err := auditquery.OpenDisk(ctx, path, db, auditquery.DiskOptions{})
		if err != nil {
			return err
		}
		if err := ix.Refresh(ctx); err != nil {
			return err
		}
		took, cpu := time.Since(start), cpuTime()-cpu0
		st := ix.Stats()
		if err := ix.Close(); err != nil {
			return err
		}
		raw, err := uncompressedSize(a)
		if err != nil {
			return err
		}
		size := fileSize(indexPath) + fileSize(indexPath+"-wal")
		fmt.Printf("build: %d lines in %d files in %s: %.0f lines/s; CPU %s: %.0f lines per CPU second\n", st.Lines, st.Files,
			took.Round(time.Millisecond), float64(st.Lines)/took.Seconds(), cpu.Round(time.Millisecond), float64(st.Lines)/cpu.Seconds())
		fmt.Printf("size: index %.1f MiB, archive %.1f MiB uncompressed: %.1f%%\n", mib(size), mib(raw), 100*float64(size)/float64(raw))
	}

	// As after a restart: open, refresh, first answer.
	start := time.Now()
	ix, err := auditquery.OpenDisk(ctx, path, db, auditquery.DiskOptions{})
	if err != nil {
		return err
	}
	defer ix.Close()
	if err := ix.Refresh(ctx); err != nil {
		return err
	}
	first, err := ix.Search(ctx, auditquery.Query{}, auditquery.PageRequest{Limit: 50, Page: 1})
	if err != nil {
		return err
	}
	st := ix.Stats()
	fmt.Printf("restart: first answer in %s (%d lines indexed, %d read by the refresh, %d rows on the page)\n",
		time.Since(start).Round(time.Millisecond), st.Lines, st.LinesRead, len(first.Rows))

	// The newest day of events: where the target's time range lies.
	newest, err := time.Parse(time.RFC3339Nano, first.Rows[0].Time)
	if err != nil {
		return err
	}
	day := newest.Add(-24 * time.Hour).Format(time.RFC3339)
	week := newest.Add(-7 * 24 * time.Hour).Format(time.RFC3339)
	for _, bm := range []struct{ name, query string }{
		{"target: source+action+day", "source=sippy&action=AUTH_FAIL,MFA_FAIL&since=" + day},
		{"source+action+week", "source=glassix&action=Login&since=" + week},
		{"source+action, all time", "source=sippy&action=AUTH_FAIL,MFA_FAIL"},
		{"no filter", ""},
		{"no filter, page 1000", "page=1000"},
		{"no filter, last page", "page=last"},
		{"text, rare", "text=forged entry"},
		{"text, common", "text=recording"},
		{"text+day", "text=DELETE Recording&since=" + day},
		{"actor+severity", "actor=main_admin&severity=warning"},
		{"resource substring", "resource=accounts:i_account=4"},
	} {
		v, err := url.ParseQuery(bm.query)
		if err != nil {
			return err
		}
		q, p, err := auditquery.ParseQuery(v, auditquery.ParseOptions{})
		if err != nil {
			return err
		}
		var times []time.Duration
		var pg auditquery.Page
		for range runs {
			t0 := time.Now()
			if pg, err = ix.Search(ctx, q, p); err != nil {
				return err
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		total := fmt.Sprint(pg.Total)
		if pg.TotalMore {
			total = "more than " + total
		}
		fmt.Printf("query %-28s median %8s  max %8s  rows %2d  total %s\n", bm.name+":", times[len(times)/2].Round(10*time.Microsecond),
			times[len(times)-1].Round(10*time.Microsecond), len(pg.Rows), total)
	}
	fmt.Printf("memory: %s\n", procMemory())
	return nil
}

// cpuTime is the CPU time the process used (user and system): on a
// shared machine the wall time says more about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func fileSize(p string) int64 {
	info, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return info.Size()
}

// uncompressedSize is the size of the archive's lines: plain files as
// they are, gzipped ones decompressed.
func uncompressedSize(a *archive.Archive) (int64, error) {
	files, err := a.Files()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		if !f.Compressed {
			n += fileSize(f.Path)
			continue
		}
		size, err := gzSize(f.Path)
		if err != nil {
			return 0, err
		}
		n += size
	}
	return n, nil
}

// gzSize reads a gzipped file's uncompressed size: from its trailer when
// under 4 GiB (ISIZE is modulo 2^32), else by decompressing.
func gzSize(path string) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	if info.Size() < 4<<30/16 {
		var tr [4]byte
		if _, err := fh.ReadAt(tr[:], info.Size()-4); err == nil {
			return int64(binary.LittleEndian.Uint32(tr[:])), nil
		}
	}
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// procMemory reports the peak and current resident memory.
func procMemory() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "VmRSS") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}
