// Command fsyncprobe measures what acknowledging after an fsync costs on
// this machine's disk, apart from the collector: how long an fdatasync
// takes and how much CPU it uses with 1..n writers syncing at once; what
// a 4 KiB write costs made durable each way a write-ahead log could
// (buffered and fdatasync, O_DIRECT and fdatasync, O_DSYNC) against the
// device write alone; and how many operations a second pebble (the
// walstorage extension's engine) completes when each of n writers does
// some CPU work and then a synced commit, against the same without the
// sync. bench/README.md (Durable by
// default, What bounds the 1-event rate) has its figures.
//
//	go run ./bench/fsyncprobe -dir _build -writers 1,2,4,8 -work 60us
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cockroachdb/pebble"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "a directory on the disk to measure (files are removed after)")
	writers := flag.String("writers", "1,2,4,8", "numbers of concurrent writers, comma-separated")
	work := flag.Duration("work", 60*time.Microsecond, "CPU work (a busy loop) before each pebble commit, standing for a request's processing")
	each := flag.Duration("duration", 3*time.Second, "how long each measurement runs")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "fsyncprobe: -writers: %q is not a positive number\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	fmt.Println("fdatasync of 512 bytes written in place, every writer syncing its own write:")
	for _, n := range ns {
		exitOn(probeFsync(*dir, n, *each))
	}
	fmt.Println("one writer, 4 KiB written in place by each way of making it durable (and, as a floor, a direct write not flushed):")
	for _, w := range ways {
		exitOn(probeWay(*dir, w, *each))
	}
	fmt.Printf("pebble, %v of CPU work then a commit of 1 200 bytes per operation:\n", *work)
	for _, n := range ns {
		for _, synced := range []bool{false, true} {
			exitOn(probePebble(*dir, n, *work, synced, *each))
		}
	}
}

// exitOn ends the program with err, when there is one.
func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
}

// cpu returns the process's user+system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// prefilled returns the path of a new file in dir holding size zero
// bytes, written and synced, so that later writes in place change no
// metadata; the caller removes it.
func prefilled(dir string, size int) (string, error) {
	f, err := os.CreateTemp(dir, "fsyncprobe-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(make([]byte, size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func probeFsync(dir string, n int, d time.Duration) error {
	path, err := prefilled(dir, 4<<20)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var ops, wait atomic.Int64
	var failed atomic.Value
	c0, stop := cpu(), time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			buf := make([]byte, 512)
			for k := 0; time.Now().Before(stop); k++ {
				t := time.Now()
				if _, err := f.WriteAt(buf, int64((i*1000+k)%8192)*512); err != nil {
					failed.Store(err)
					return
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					failed.Store(err)
					return
				}
				wait.Add(int64(time.Since(t)))
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	used := cpu() - c0
	o := ops.Load()
	fmt.Printf("  writers %d: %8.0f fsyncs/s, %7.1f µs each (wall, mean), %5.1f µs of CPU each\n",
		n, float64(o)/d.Seconds(), float64(wait.Load())/float64(o)/1e3, float64(used.Nanoseconds())/float64(o)/1e3)
	return nil
}

// way is one way of writing a block durably: the open flags and whether
// an fdatasync follows each write.
type way struct {
	name  string
	flags int
	sync  bool
}

// ways are those a write-ahead log could use. O_DIRECT bypasses the page
// cache (the write reaches the device before it returns); with a volatile
// write cache (this VM's disk: /sys/block/*/queue/write_cache "write
// back", no FUA) only a flush makes it durable, which O_DSYNC and
// fdatasync both issue. The last is not durable: it is the floor, the
// device write alone.
var ways = []way{
	{"buffered + fdatasync", 0, true},
	{"O_DIRECT + fdatasync", syscall.O_DIRECT, true},
	{"O_DIRECT|O_DSYNC", syscall.O_DIRECT | syscall.O_DSYNC, false},
	{"O_DIRECT, no flush (floor)", syscall.O_DIRECT, false},
}

func probeWay(dir string, w way, d time.Duration) error {
	const span = 16 << 20
	path, err := prefilled(dir, span)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_RDWR|w.flags, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// O_DIRECT needs a buffer aligned to the logical block: a page is.
	raw := make([]byte, 2*4096)
	off := 4096 - int(uintptr(unsafe.Pointer(&raw[0]))&4095)
	buf := raw[off : off+4096]
	var ops int64
	c0, t0 := cpu(), time.Now()
	for time.Since(t0) < d {
		if _, err := f.WriteAt(buf, (ops*4096)%span); err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		if w.sync {
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		}
		ops++
	}
	wall, used := time.Since(t0), cpu()-c0
	fmt.Printf("  %-28s %7.1f µs each (wall), %5.1f µs of CPU each\n",
		w.name, float64(wall.Nanoseconds())/float64(ops)/1e3, float64(used.Nanoseconds())/float64(ops)/1e3)
	return nil
}

func probePebble(dir string, n int, work time.Duration, synced bool, d time.Duration) error {
	path, err := os.MkdirTemp(dir, "fsyncprobe-pebble-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(path)
	db, err := pebble.Open(path, &pebble.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	var ops atomic.Int64
	var failed atomic.Value
	val := make([]byte, 1200)
	c0, stop := cpu(), time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for k := 0; time.Now().Before(stop); k++ {
				for t := time.Now(); time.Since(t) < work; {
				}
				b := db.NewBatch()
				_ = b.Set(fmt.Appendf(nil, "k%d-%d", i, k), val, nil)
				if err := db.Apply(b, pebble.NoSync); err != nil {
					failed.Store(err)
					return
				}
				if synced {
					// As walstorage's Sync: an empty record, synced,
					// shared by every commit waiting at the time.
					if err := db.LogData(nil, pebble.Sync); err != nil {
						failed.Store(err)
						return
					}
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	used := cpu() - c0
	mode := "no sync"
	if synced {
		mode = "synced "
	}
	fmt.Printf("  writers %d, %s: %8.0f ops/s, %4.2f cores busy\n",
		n, mode, float64(ops.Load())/d.Seconds(), used.Seconds()/d.Seconds())
	return nil
}
