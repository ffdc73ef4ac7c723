package proc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseStatusKB(t *testing.T) {
	status := "Name:\totelcol\nVmPeak:\t 2000 kB\nVmHWM:\t   40296 kB\nVmRSS:\t 1 kB\n"
	got, err := parseStatusKB([]byte(status), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, uint64(40296*1024), got)

	_, err = parseStatusKB([]byte(status), "VmSwap")
	assert.ErrorContains(t, err, "no VmSwap")
	_, err = parseStatusKB([]byte("VmHWM:\t12 MB\n"), "VmHWM")
	assert.ErrorContains(t, err, "unexpected value")
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "1234 (otel col (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 13 0 1 2 3"
	got, err := parseStatCPU([]byte(stat))
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, got, "utime 250 + stime 50 ticks at 100 Hz")

	_, err = parseStatCPU([]byte("1234 otelcol S 1"))
	assert.ErrorContains(t, err, "no ')'")
	_, err = parseStatCPU([]byte("1 (x) S 1 2"))
	assert.ErrorContains(t, err, "too few fields")
}

func TestOwnFigures(t *testing.T) {
	now, err := RSS(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, now)
	peak, err := PeakRSS(os.Getpid())
	require.NoError(t, err)
	assert.LessOrEqual(t, now, peak, "the peak, read later, is at least the RSS read before")
	rss, anon, err := Resident(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, anon)
	assert.LessOrEqual(t, anon, rss, "the anonymous part of the resident set is part of it")
	_, _, err = Resident(1 << 30) // no such process
	assert.Error(t, err)
	_, err = RSS(1 << 30) // no such process
	assert.Error(t, err)
	_, err = CPUTime(os.Getpid())
	require.NoError(t, err)
	_, err = PeakRSS(1 << 30) // no such process
	assert.Error(t, err)
}

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		syslogtest.Require(t, "these tests run children with sh: %v", err)
	}
	return sh
}

func TestStartStopAndListen(t *testing.T) {
	sh := shell(t)
	port, err := FreePort()
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	// A child that listens: this test binary is not one, so use a
	// listener in the test and a child that just waits.
	p, err := Start(sh, []string{"-c", "echo started; exec sleep 60"}, []string{"BENCH_X=1"}, filepath.Join(t.TempDir(), "child.log"))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, p.WaitListening(context.Background(), addr, 10*time.Second))

	require.NoError(t, p.Stop(10*time.Second))
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the child exited")
	}
	require.NoError(t, p.Stop(time.Second), "stopping twice is harmless")
}

func TestWaitListeningNoticesAnExitedChild(t *testing.T) {
	sh := shell(t)
	logPath := filepath.Join(t.TempDir(), "child.log")
	p, err := Start(sh, []string{"-c", "echo bad config >&2; exit 3"}, nil, logPath)
	require.NoError(t, err)
	port, err := FreePort()
	require.NoError(t, err)
	err = p.WaitListening(context.Background(), "127.0.0.1:"+strconv.Itoa(port), time.Minute)
	assert.ErrorContains(t, err, "exited before listening")
	assert.ErrorContains(t, err, "exit status 3")
	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Equal(t, "bad config\n", string(log), "the child's output goes to its log")
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	sh := shell(t)
	logPath := filepath.Join(t.TempDir(), "child.log")
	p, err := Start(sh, []string{"-c", `trap "" TERM; echo ready; while :; do sleep 1; done`}, nil, logPath)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		log, _ := os.ReadFile(logPath)
		return string(log) == "ready\n"
	}, 10*time.Second, 10*time.Millisecond, "the trap is set")
	err = p.Stop(200 * time.Millisecond)
	assert.ErrorContains(t, err, "was killed")
	<-p.Exited()
}

func TestKillIsSIGKILL(t *testing.T) {
	sh := shell(t)
	logPath := filepath.Join(t.TempDir(), "child.log")
	p, err := Start(sh, []string{"-c", `trap "" TERM; echo ready; while :; do sleep 1; done`}, nil, logPath)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		log, _ := os.ReadFile(logPath)
		return string(log) == "ready\n"
	}, 10*time.Second, 10*time.Millisecond, "the trap is set")
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the child exited")
	}
	assert.ErrorContains(t, p.ExitErr(), "signal: killed", "a child ignoring SIGTERM is killed at once")
	p.Kill() // killing twice is harmless
}

func TestStartReportsAMissingProgram(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "nope"), nil, nil, filepath.Join(t.TempDir(), "child.log"))
	assert.Error(t, err)
}
