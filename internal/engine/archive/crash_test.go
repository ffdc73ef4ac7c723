package archive

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// crashChildEnv makes the test binary a writer process (see TestMain).
const (
	crashChildEnv   = "ARCHIVE_CRASH_CHILD_PATH"
	crashRoundEnv   = "ARCHIVE_CRASH_CHILD_ROUND"
	crashBatch      = 100
	crashMessageLen = 40 << 10 // a 4 MB write per batch
)

// crashChild writes batches of large events forever, printing "writing"
// just before each write system call and "acked N" after each batch whose
// Write returned (N is the batch's last event number). A batch is one 4 MB
// write, which the kernel copies page by page and cuts short when a SIGKILL
// arrives: a kill sent on "writing" lands inside it.
func crashChild(path string) {
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	w, err := OpenWriter(WriterOptions{Path: path, MaxSize: 16 << 20, Compress: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	w.hookBeforeWrite = func() { fmt.Println("writing") }
	padding := strings.Repeat("p", crashMessageLen)
	for first := round * 1_000_000; ; first += crashBatch {
		ld := archivetest.GlassixLogs(first, crashBatch)
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			lrs.At(i).Attributes().PutStr("padding", padding)
		}
		if err := w.Write(context.Background(), EncodeLogs(ld)); err != nil {
			fmt.Fprintln(os.Stderr, "child: write:", err)
			os.Exit(4)
		}
		fmt.Printf("acked %d\n", first+crashBatch-1)
	}
}

// A real writer process is SIGKILLed while it writes, several times over
// the same archive. After each kill, the next start recovers the archive:
// every event the child acknowledged is there, a partial line (when the
// kill landed inside a write) is cut away, and the chain verifies.
func TestWriterCrashRecoveryKilledProcess(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/audit.jsonl"
	acked := map[string]bool{}
	partials := 0
	for round := 1; round <= 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		// Kill as a write starts, once a few batches were acknowledged.
		sc := bufio.NewScanner(out)
		last, acks := -1, 0
		scan := func() bool {
			if !sc.Scan() {
				return false
			}
			if sc.Text() != "writing" {
				_, err := fmt.Sscanf(sc.Text(), "acked %d", &last)
				require.NoError(t, err, sc.Text())
				acks++
			}
			return true
		}
		for scan() {
			if acks >= 1 && sc.Text() == "writing" {
				break
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		for scan() { // acknowledgements printed before the kill landed
		}
		err = cmd.Wait()
		require.Error(t, err, "the child must have been killed")
		require.GreaterOrEqual(t, last, round*1_000_000, "the child acknowledged nothing")
		for i := round * 1_000_000; i <= last; i++ {
			acked[fmt.Sprintf("user-%d removed by admin", i)] = true
		}

		data, err := os.ReadFile(path)
		require.NoError(t, err)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			partials++
			t.Logf("round %d: the kill left a partial line of %d bytes", round, len(data)-strings.LastIndexByte(string(data), '\n')-1)
		}

		// Recovery.
		w, err := OpenWriter(WriterOptions{Path: path, MaxSize: 16 << 20, Compress: true})
		require.NoError(t, err)
		require.NoError(t, w.Close())

		present := map[string]bool{}
		for _, m := range eventMessages(t, path) {
			present[m] = true
		}
		for m := range acked {
			require.True(t, present[m], "acknowledged event lost: %s", m)
		}
		r := requireIntact(t, path, VerifyOptions{})
		assert.Equal(t, partials, strings.Count(strings.Join(r.Notes, "\n"), "cut a partial line"))
	}
	t.Logf("%d of 3 kills landed inside a write", partials)
}
