package pgindex_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100

// serverCPU returns the CPU time the PostgreSQL server listening on port
// has used so far: its processes' own, and that of the ones that ended
// (the postmaster's children's). 0 when it cannot be read.
func serverCPU(port int) time.Duration {
	files, _ := filepath.Glob("/tmp/pgtest-*/data/postmaster.pid")
	var pm int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 3 && strings.TrimSpace(lines[3]) == strconv.Itoa(port) {
			pm, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
		}
	}
	if pm == 0 {
		return 0
	}
	var ticks int64
	stat := func(pid string) (ppid int, own, children int64, ok bool) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return 0, 0, 0, false
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// After the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based from state.
		ppid, _ = strconv.Atoi(f[1])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cu, _ := strconv.ParseInt(f[13], 10, 64)
		cs, _ := strconv.ParseInt(f[14], 10, 64)
		return ppid, u + st, cu + cs, true
	}
	_, own, children, ok := stat(strconv.Itoa(pm))
	if !ok {
		return 0
	}
	ticks += own + children
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		if ppid, own, _, ok := stat(p.Name()); ok && ppid == pm {
			ticks += own
		}
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
