//go:build e2e

package e2e

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// Power loss itself is simulated in powerloss_test.go (a FUSE filesystem
// that keeps only what was fsynced). The tests here prove the parts:
// TestAcknowledgedOnlyAfterFsync proves with strace that every 200 is
// written after an fsync of the write-ahead log that began after the event
// was written to it, and TestKilledAfterAcknowledgingRetriesAreDropped
// that what was acknowledged is read back from that log after a SIGKILL,
// dedup window included.

// TestAcknowledgedOnlyAfterFsync runs the shipped configuration under
// strace and posts webhooks one at a time: for each, the 200 must be
// written to the client's socket after an fdatasync/fsync of the
// walstorage write-ahead log that started after the log write holding the
// event's id.
func TestAcknowledgedOnlyAfterFsync(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		archivetest.SkipOrFail(t, "strace is not installed (apt-get install strace)")
	}
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint()})
	trace := filepath.Join(c.dir, "strace.txt")
	// -y names each descriptor's file or socket; -s keeps enough of each
	// write to find an event id in the log's blocks.
	c.args = append([]string{"-f", "-y", "-s", "65536", "-e", "trace=read,write,pwrite64,fsync,fdatasync", "-o", trace, c.bin}, c.args...)
	c.bin = straceBin
	c.start()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 1)
	client := &http.Client{Timeout: 30 * time.Second}
	const n = 20
	var ids []string
	for range n {
		body, first := payloads.Build(nil, time.Now())
		a := post(t, client, c.url("/glassix"), body)
		require.Equal(t, http.StatusOK, a.status, a.body)
		ids = append(ids, scheme.String(first))
		time.Sleep(50 * time.Millisecond) // let the exporters' reads and deletes of the last one settle
	}
	c.stop()

	walDir := filepath.Join(c.dir, "queue") + "/"
	acks := ackOrder(t, trace, walDir)
	require.Len(t, acks, n, "one answered request per webhook in the trace")
	for i, a := range acks {
		require.True(t, strings.Contains(a.walData, ids[i]),
			"webhook %d (%s): no write of its event to the write-ahead log between the request and the answer", i, ids[i])
		require.True(t, a.syncedAfterWrite,
			"webhook %d (%s): the 200 was written before an fsync that followed the event's log write", i, ids[i])
	}
	t.Logf("%d webhooks: each answered after an fsync of the write-ahead log that followed its event's write", n)
}

// ack is what the trace shows between reading one request and writing its
// answer.
type ack struct {
	walData          string // the write-ahead log writes in between
	syncedAfterWrite bool   // an fsync of the log began after the last of them and ended before the answer
}

var straceLine = regexp.MustCompile(`^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\((\d+)<([^>]*)>)`)

// ackOrder reads an strace -f -y trace and returns, per HTTP request read
// from a socket, what happened before its 200 was written.
func ackOrder(t *testing.T, path, walDir string) []ack {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	type pending struct {
		call, file string
		began      int
	}
	unfinished := map[string]pending{} // by pid
	var acks []ack
	var cur *ack
	lastWALWrite := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for idx := 0; sc.Scan(); idx++ {
		line := sc.Text()
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid := m[1]
		var call, file string
		began, finished := idx, !strings.Contains(line, "<unfinished ...>")
		if m[2] != "" { // resumed
			p, ok := unfinished[pid]
			if !ok {
				continue
			}
			delete(unfinished, pid)
			call, file, began = p.call, p.file, p.began
		} else {
			call, file = m[3], m[5]
			if !finished {
				unfinished[pid] = pending{call: call, file: file, began: idx}
			}
		}
		isWAL := strings.HasPrefix(file, walDir) && strings.HasSuffix(file, ".log")
		isSocket := strings.HasPrefix(file, "socket:")
		switch {
		case call == "read" && isSocket && m[2] == "" && strings.Contains(line, `"POST /glassix `):
			acks = append(acks, ack{})
			cur = &acks[len(acks)-1]
			lastWALWrite = -1
		case (call == "write" || call == "pwrite64") && isWAL && m[2] == "" && cur != nil:
			cur.walData += line
			lastWALWrite = idx
		case (call == "fdatasync" || call == "fsync") && isWAL && finished && cur != nil:
			if lastWALWrite >= 0 && began > lastWALWrite {
				cur.syncedAfterWrite = true
			}
		case call == "write" && isSocket && m[2] == "" && strings.Contains(line, `"HTTP/1.1 200 `):
			cur = nil
		}
	}
	require.NoError(t, sc.Err())
	return acks
}

// TestKilledAfterAcknowledgingRetriesAreDropped: with the SIEM down (so
// the events can only be in the queue), webhooks are acknowledged and the
// collector is killed with SIGKILL at once, well within a second (the
// dedup window used to be saved once a second). After the restart, the
// vendor retries every one of them; the SIEM and the archive get each
// event exactly once: the queue had them all, and the dedup window
// remembered them all.
func TestKilledAfterAcknowledgingRetriesAreDropped(t *testing.T) {
	siem := startSIEM(t)
	siem.Stop()
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint()})
	c.start()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 1)
	client := &http.Client{Timeout: 30 * time.Second}
	var acked loadid.Set
	var bodies [][]byte
	const n = 200
	start := time.Now()
	for range n {
		body, first := payloads.Build(nil, time.Now())
		a := post(t, client, c.url("/glassix"), body)
		require.Equal(t, http.StatusOK, a.status, a.body)
		acked.Add(first)
		bodies = append(bodies, body)
	}
	c.kill()
	t.Logf("%d webhooks acknowledged in %s, then SIGKILL", n, time.Since(start))

	siem.Start()
	c.start()
	for _, body := range bodies { // the vendor's retries: same bodies, same ids
		a := post(t, client, c.url("/glassix"), body)
		require.Equal(t, http.StatusOK, a.status, a.body)
	}
	waitDelivered(t, siem, c.archive, scheme, &acked)
	time.Sleep(2 * time.Second) // room for a duplicate to arrive
	c.stop()
	requireExactlyOnce(t, "the SIEM", siemTally(siem, scheme), &acked)
	requireExactlyOnce(t, "the archive", archiveTally(t, c.archive, scheme), &acked)
	requireVerified(t, c.archive)
}
