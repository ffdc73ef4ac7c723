package archive

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
)

// maintainer compresses and removes rotated files in the background, one
// task at a time and in the order asked, so a file is never removed while it
// is being compressed, and the writer never waits for either.
type maintainer struct {
	dir  string
	mode fs.FileMode
	log  *zap.Logger

	mu    sync.Mutex
	tasks []task
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

type task struct {
	compress string   // a rotated file's (uncompressed) name
	remove   []string // rotated files' uncompressed names; both spellings are removed
}

func newMaintainer(dir string, mode fs.FileMode, log *zap.Logger) *maintainer {
	m := &maintainer{dir: dir, mode: mode, log: log,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *maintainer) add(t task) {
	m.mu.Lock()
	m.tasks = append(m.tasks, t)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *maintainer) next() (task, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tasks) == 0 {
		return task{}, false
	}
	t := m.tasks[0]
	m.tasks = m.tasks[1:]
	return t, true
}

// close stops the maintainer. Pending removals are carried out (their
// retention marker is already in the chain); a compression in progress is
// abandoned, and pending ones are left to the next start, which compresses
// every uncompressed rotated file.
func (m *maintainer) close() {
	close(m.stop)
	<-m.done
}

func (m *maintainer) run() {
	defer close(m.done)
	for {
		for {
			t, ok := m.next()
			if !ok {
				break
			}
			m.do(t)
		}
		select {
		case <-m.wake:
		case <-m.stop:
			for {
				t, ok := m.next()
				if !ok {
					return
				}
				if t.remove != nil {
					m.do(t)
				}
			}
		}
	}
}

func (m *maintainer) do(t task) {
	if t.compress != "" {
		if err := m.compress(t.compress); err != nil && !errors.Is(err, errStopped) {
			m.log.Error("Compressing a rotated archive file failed; it stays uncompressed and is retried at the next start",
				zap.String("file", t.compress), zap.Error(err))
		}
		return
	}
	for _, name := range t.remove {
		for _, n := range []string{name, name + gzipSuffix} {
			if err := os.Remove(filepath.Join(m.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				m.log.Error("Removing a rotated archive file by retention failed", zap.String("file", n), zap.Error(err))
			}
		}
	}
	if err := syncDir(m.dir); err != nil {
		m.log.Warn("Syncing the archive directory failed", zap.Error(err))
	}
}

var errStopped = errors.New("stopped")

// compress writes name.gz through a temporary file, makes it durable, and
// only then removes name: at every instant one complete copy exists.
func (m *maintainer) compress(name string) error {
	src := filepath.Join(m.dir, name)
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // already compressed or removed
	}
	if err != nil {
		return err
	}
	defer in.Close()
	dst := src + gzipSuffix
	tmp := dst + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, m.mode)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Chmod(m.mode); err != nil {
		return fail(err)
	}
	zw, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err != nil {
		return fail(err)
	}
	zw.Name = name
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-m.stop:
			return fail(errStopped)
		default:
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := zw.Write(buf[:n]); err != nil {
				return fail(err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(m.dir); err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	if err := os.Remove(src); err != nil {
		return err
	}
	return syncDir(m.dir)
}
