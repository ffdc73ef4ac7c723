// Package proc runs the processes under test (a collector, the bare
// server) and reads what the kernel knows about them: peak resident memory
// and CPU time.
package proc // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a child started by Start.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
	log    *os.File
}

// Start runs name with args and the extra environment, its output going
// to logPath. The child is in its own process group and is killed if the
// harness dies, so an interrupted run leaves nothing behind.
func Start(name string, args, env []string, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{}), log: logFile}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the child has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is how the child exited; call it after Exited is closed.
func (p *Process) ExitErr() error { return p.err }

// Stop asks the child to stop (SIGTERM to its group), kills the group if
// it has not exited within grace, and waits for it.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("pid %d did not stop within %s of SIGTERM and was killed", p.PID(), grace)
	}
}

// Kill kills the child's group with SIGKILL, as a crash or the OOM killer
// would, and waits for it to exit.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// WaitListening waits until something accepts TCP connections on addr,
// the child exits, ctx is done or timeout passes.
func (p *Process) WaitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before listening on %s: %v", addr, p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %w", addr, timeout, err)
		}
	}
}

// PeakRSS is the peak resident set size of pid (VmHWM), in bytes.
func PeakRSS(pid int) (uint64, error) {
	return statusKB(pid, "VmHWM")
}

// RSS is the current resident set size of pid (VmRSS), in bytes.
func RSS(pid int) (uint64, error) {
	return statusKB(pid, "VmRSS")
}

// Resident is pid's current resident set size (VmRSS) and its anonymous
// part (RssAnon: heap, stacks and runtime memory, without the file pages
// it has mapped — a bbolt database's, the binary's own — which the kernel
// can drop and read again), in bytes, from one read of its status.
func Resident(pid int) (rss, anon uint64, err error) {
	data, err := readStatus(pid)
	if err != nil {
		return 0, 0, err
	}
	if rss, err = parseStatusKB(data, "VmRSS"); err != nil {
		return 0, 0, err
	}
	anon, err = parseStatusKB(data, "RssAnon")
	return rss, anon, err
}

func statusKB(pid int, field string) (uint64, error) {
	data, err := readStatus(pid)
	if err != nil {
		return 0, err
	}
	return parseStatusKB(data, field)
}

func readStatus(pid int) ([]byte, error) {
	return os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
}

func parseStatusKB(status []byte, field string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", field, value)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports (the kernel exports times in it whatever its own HZ).
const clockTicks = 100

// CPUTime is the user plus system CPU time pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed /proc stat: no ')'")
	}
	f := strings.Fields(string(stat[end+1:]))
	// After ')': state(3) ... utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a child that must be told its port before it starts.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
