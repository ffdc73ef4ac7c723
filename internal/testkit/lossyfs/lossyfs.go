// Package lossyfs is a FUSE filesystem for simulating a power loss: it
// keeps everything written to it in memory, the way a page cache does,
// and only what fsync made durable survives PowerCut.
//
// The model is the weakest a POSIX filesystem promises (fsync(2): "Calling
// fsync() does not necessarily ensure that the entry in the directory
// containing the file has also reached disk. For that an explicit fsync()
// on a file descriptor for the directory is also needed."):
//
//   - a file's contents and size are durable as of its last fsync or
//     fdatasync; later writes, truncations and extensions are lost;
//   - a directory's entries (creations, renames, unlinks, mkdirs) are
//     durable as of the directory's last fsync; a name that was never in a
//     synced directory is lost with the file behind it, even if the file
//     itself was synced;
//   - a file's or directory's permission bits are durable with its
//     contents or entries (as of its last fsync); timestamps and owners
//     are not kept.
//
// ext4 in its default data=ordered mode usually keeps more (a file's fsync
// commits the journal, and with it every pending rename and creation), so a
// program that survives this model survives ext4, XFS and btrfs.
//
// It stands in for dm-flakey / dm-log-writes where the kernel has no
// device-mapper (this project's machines): a test writes through the
// mount, kills the process under test, calls PowerCut, and starts it again
// on the directory PowerCut leaves behind.
//
// Written by hand on go-fuse (github.com/hanwen/go-fuse): no library keeps
// durable and volatile state apart like this; go-fuse's own in-memory
// nodes (fs.MemRegularFile) have no notion of durability.
package lossyfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted lossy filesystem.
type FS struct {
	dir    string
	server *fuse.Server

	// mu guards every node's volatile state and the durable image: one
	// lock keeps fsync's snapshot consistent with concurrent writes, and
	// a test's load is small.
	mu      sync.Mutex
	nextIno uint64
	root    *dirNode
	// files is each file's contents as of its last fsync; dirs each
	// directory's entries as of its last fsync (name to inode number).
	files map[uint64][]byte
	dirs  map[uint64]map[string]uint64
	isDir map[uint64]bool
	// modes is each inode's permission bits as of its last fsync.
	modes map[uint64]uint32
	cut   bool
}

// Stats tells what a PowerCut dropped and kept.
type Stats struct {
	// Files and Dirs count what the cut left in the directory.
	Files, Dirs int
	// KeptBytes is the size of the files left; LostBytes counts the
	// bytes readers saw before the cut that are not there after it (past
	// the durable copy's end, or different from it; a whole file whose
	// name was not durable).
	KeptBytes, LostBytes int64
	// LostNames counts the live paths a cut loses (renamed, created or
	// removed since their directory's last sync, or under such a name).
	LostNames int
}

// ErrUnavailable is returned by Mount when this machine cannot mount a
// FUSE filesystem (no /dev/fuse, or no permission to mount).
var ErrUnavailable = errors.New("lossyfs: FUSE is not available")

// Mount mounts an empty lossy filesystem on dir, which must exist and be
// empty.
func Mount(dir string) (*FS, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	f := &FS{
		dir:     dir,
		nextIno: 2,
		files:   map[uint64][]byte{},
		dirs:    map[uint64]map[string]uint64{1: {}},
		isDir:   map[uint64]bool{1: true},
		modes:   map[uint64]uint32{1: 0o755},
	}
	f.root = &dirNode{fsys: f, mode: 0o755}
	zero := time.Duration(0)
	server, err := fs.Mount(dir, f.root, &fs.Options{
		// No kernel caching of names or attributes: every lookup and
		// stat sees this process's state, also right after a cut.
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		// FUSE's default write-through (no writeback cache) and direct
		// I/O on every file: the kernel keeps no dirty pages of its own,
		// every write reaches this process at once.
		MountOptions: fuse.MountOptions{
			FsName:        "lossyfs",
			Name:          "lossyfs",
			DirectMount:   true,
			DisableXAttrs: true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: mount %s: %v", ErrUnavailable, dir, err)
	}
	f.server = server
	return f, nil
}

func (f *FS) newIno(dir bool) uint64 {
	ino := f.nextIno
	f.nextIno++
	f.isDir[ino] = dir
	if dir {
		f.dirs[ino] = map[string]uint64{}
	}
	return ino
}

// PowerCut unmounts the filesystem and writes to its mount point, now a
// plain directory, what a power loss at this instant would have left: the
// durable image. Processes writing to it must be gone (killed) first: an
// open file keeps the unmount busy.
func (f *FS) PowerCut() (Stats, error) {
	f.mu.Lock()
	f.cut = true
	img, st := f.snapshot()
	f.mu.Unlock()
	if err := f.unmount(); err != nil {
		return Stats{}, err
	}
	if err := img.materialize(f.dir, 1, &st); err != nil {
		return st, err
	}
	return st, nil
}

// Image writes to dst (an existing, empty directory elsewhere) what a
// power loss at this instant would leave, while the filesystem stays
// mounted and in use: for a test whose writer lives in its own process
// and cannot be killed. The durable copies are cloned under the lock, so
// syncs after Image returns do not reach dst.
func (f *FS) Image(dst string) (Stats, error) {
	f.mu.Lock()
	img, st := f.snapshot()
	f.mu.Unlock()
	return st, img.materialize(dst, 1, &st)
}

// snapshot copies the durable image, and counts what a cut now would
// lose. The caller holds mu.
func (f *FS) snapshot() (image, Stats) {
	lost := f.volatileStats()
	files := make(map[uint64][]byte, len(f.files))
	for ino, data := range f.files {
		files[ino] = bytes.Clone(data)
	}
	dirs := make(map[uint64]map[string]uint64, len(f.dirs))
	for ino, entries := range f.dirs {
		dirs[ino] = maps.Clone(entries)
	}
	img := image{files: files, dirs: dirs, isDir: maps.Clone(f.isDir), modes: maps.Clone(f.modes)}
	return img, Stats{LostBytes: lost.LostBytes, LostNames: lost.LostNames}
}

// Unmount unmounts without materializing anything: for cleanup.
func (f *FS) Unmount() error {
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
	return f.unmount()
}

func (f *FS) unmount() error {
	var err error
	// A killed process's descriptors are closed by the kernel shortly
	// after it exits; until then the unmount is busy.
	for range 50 {
		if err = f.server.Unmount(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("lossyfs: unmount %s: %w", f.dir, err)
}

// volatileStats compares the live tree with the durable image.
func (f *FS) volatileStats() Stats {
	var st Stats
	// named: d's path from the root is durable.
	var walk func(d *dirNode, named bool)
	walk = func(d *dirNode, named bool) {
		durable := f.dirs[d.ino()]
		for name, child := range d.Children() {
			ino := child.StableAttr().Ino
			kept := named && durable[name] == ino
			if !kept {
				st.LostNames++
			}
			switch n := child.Operations().(type) {
			case *dirNode:
				walk(n, kept)
			case *fileNode:
				durableData := f.files[ino]
				if !kept {
					durableData = nil // the whole file goes with its name
				}
				st.LostBytes += differing(n.data, durableData)
			}
		}
	}
	walk(f.root, true)
	return st
}

// differing counts the bytes of live that durable does not hold.
func differing(live, durable []byte) int64 {
	n := int64(max(len(live)-len(durable), 0))
	for i := range min(len(live), len(durable)) {
		if live[i] != durable[i] {
			n++
		}
	}
	return n
}

// image is the durable state PowerCut and Image write out.
type image struct {
	files map[uint64][]byte
	dirs  map[uint64]map[string]uint64
	isDir map[uint64]bool
	modes map[uint64]uint32
}

func (img image) materialize(path string, ino uint64, st *Stats) error {
	for name, child := range img.dirs[ino] {
		p := filepath.Join(path, name)
		mode := os.FileMode(img.modes[child] & 0o7777)
		if img.isDir[child] {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			st.Dirs++
			if err := img.materialize(p, child, st); err != nil {
				return err
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(p, img.files[child], 0o600); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		st.Files++
		st.KeptBytes += int64(len(img.files[child]))
	}
	return nil
}

// dirNode is a directory: its live entries are go-fuse's children of the
// inode; its durable entries are fsys.dirs[ino]. Every inode is
// persistent (go-fuse keeps it until it is unlinked): the tree is the
// filesystem, and an inode the kernel forgot under memory pressure must
// not vanish from it.
type dirNode struct {
	fs.Inode
	fsys *FS
	mode uint32 // permission bits
}

var (
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeFsyncer   = (*dirNode)(nil)
	_ fs.NodeStatfser  = (*dirNode)(nil)
	_ fs.NodeSetattrer = (*dirNode)(nil)
)

func (d *dirNode) ino() uint64 {
	if d == d.fsys.root {
		return 1
	}
	return d.StableAttr().Ino
}

func (d *dirNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	out.Mode = syscall.S_IFDIR | d.mode
	out.Nlink = 2
	return 0
}

func (d *dirNode) Setattr(_ context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if mode, ok := in.GetMode(); ok {
		d.mode = mode & 0o7777
	}
	out.Mode = syscall.S_IFDIR | d.mode
	return 0
}

func (d *dirNode) Statfs(_ context.Context, out *fuse.StatfsOut) syscall.Errno {
	// Plenty of room: the disk-full case has its own test, on a tmpfs.
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = 1<<26, 1<<25, 1<<25
	out.Files, out.Ffree, out.NameLen = 1<<20, 1<<19, 255
	return 0
}

func (d *dirNode) live() syscall.Errno {
	if d.fsys.cut {
		return syscall.EIO
	}
	return 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if e := d.live(); e != 0 {
		return nil, e
	}
	ino := d.fsys.newIno(true)
	out.Mode = syscall.S_IFDIR | mode&0o7777
	return d.NewPersistentInode(ctx, &dirNode{fsys: d.fsys, mode: mode & 0o7777}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino}), 0
}

func (d *dirNode) Create(ctx context.Context, name string, _ uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if e := d.live(); e != 0 {
		return nil, nil, 0, e
	}
	ino := d.fsys.newIno(false)
	out.Mode = syscall.S_IFREG | mode&0o7777
	return d.NewPersistentInode(ctx, &fileNode{fsys: d.fsys, mode: mode & 0o7777}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: ino}), nil, fuse.FOPEN_DIRECT_IO, 0
}

// Unlink, Rmdir and Rename change only the live tree, which go-fuse
// updates once they return 0; the durable entries wait for an fsync of
// the directory.
func (d *dirNode) Unlink(context.Context, string) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	return d.live()
}

func (d *dirNode) Rmdir(_ context.Context, name string) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if e := d.live(); e != 0 {
		return e
	}
	if c := d.GetChild(name); c != nil && len(c.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	return 0
}

func (d *dirNode) Rename(_ context.Context, _ string, _ fs.InodeEmbedder, _ string, flags uint32) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if flags != 0 { // RENAME_EXCHANGE, RENAME_NOREPLACE: not needed here
		return syscall.EINVAL
	}
	return d.live()
}

// Fsync on a directory makes its entries as they are now durable.
func (d *dirNode) Fsync(context.Context, fs.FileHandle, uint32) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if e := d.live(); e != 0 {
		return e
	}
	entries := map[string]uint64{}
	for name, child := range d.Children() {
		entries[name] = child.StableAttr().Ino
	}
	d.fsys.dirs[d.ino()] = entries
	d.fsys.modes[d.ino()] = d.mode
	return 0
}

// fileNode is a regular file: data is what reads see, fsys.files[ino]
// what survives a cut.
type fileNode struct {
	fs.Inode
	fsys *FS
	mode uint32 // permission bits
	data []byte
	// dirty is the range written since the last fsync (empty when lo >=
	// hi): fsync copies only it, so a log appended (or, recycled,
	// overwritten) and synced a thousand times is not copied whole each
	// time.
	dirtyLo, dirtyHi int64
}

func (n *fileNode) markDirty(lo, hi int64) {
	if n.dirtyLo >= n.dirtyHi {
		n.dirtyLo, n.dirtyHi = lo, hi
		return
	}
	n.dirtyLo, n.dirtyHi = min(n.dirtyLo, lo), max(n.dirtyHi, hi)
}

var (
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeReader    = (*fileNode)(nil)
	_ fs.NodeWriter    = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeFsyncer   = (*fileNode)(nil)
	_ fs.NodeFlusher   = (*fileNode)(nil)
	_ fs.NodeAllocater = (*fileNode)(nil)
)

func (n *fileNode) Open(_ context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return nil, 0, syscall.EIO
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		// The kernel truncates with a setattr unless the filesystem
		// asks for atomic O_TRUNC (go-fuse does not); harmless twice.
		n.resize(0)
	}
	// Direct I/O: the kernel caches no pages, so a read after the cut
	// cannot see what this process dropped.
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (n *fileNode) Read(_ context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return nil, syscall.EIO
	}
	off = min(off, int64(len(n.data)))
	end := min(off+int64(len(dest)), int64(len(n.data)))
	return fuse.ReadResultData(append([]byte(nil), n.data[off:end]...)), 0
}

func (n *fileNode) Write(_ context.Context, _ fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return 0, syscall.EIO
	}
	n.resize(max(int64(len(n.data)), off+int64(len(data))))
	copy(n.data[off:], data)
	n.markDirty(off, off+int64(len(data)))
	return uint32(len(data)), 0
}

func (n *fileNode) resize(size int64) {
	if old := int64(len(n.data)); size > old {
		n.markDirty(old, size) // zeros
	}
	switch {
	case size <= int64(len(n.data)):
		n.data = n.data[:size]
	case size <= int64(cap(n.data)):
		old := len(n.data)
		n.data = n.data[:size]
		clear(n.data[old:])
	default:
		grown := make([]byte, size, max(size, 2*int64(cap(n.data))))
		copy(grown, n.data)
		n.data = grown
	}
}

func (n *fileNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	out.Mode = syscall.S_IFREG | n.mode
	out.Nlink = 1
	out.Size = uint64(len(n.data))
	out.Blocks = (out.Size + 511) / 512
	return 0
}

func (n *fileNode) Setattr(_ context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return syscall.EIO
	}
	if size, ok := in.GetSize(); ok {
		n.resize(int64(size))
	}
	if mode, ok := in.GetMode(); ok {
		n.mode = mode & 0o7777
	}
	out.Mode = syscall.S_IFREG | n.mode
	out.Size = uint64(len(n.data))
	return 0
}

// Allocate (fallocate(2)): a preallocation that keeps the size changes
// nothing a reader sees; one that extends the file is a zero-filled
// extension.
func (n *fileNode) Allocate(_ context.Context, _ fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return syscall.EIO
	}
	const keepSize = 0x01 // FALLOC_FL_KEEP_SIZE
	if mode&^keepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	if mode&keepSize == 0 && int64(off+size) > int64(len(n.data)) {
		n.resize(int64(off + size))
	}
	return 0
}

// Flush (close(2)) makes nothing durable.
func (n *fileNode) Flush(context.Context, fs.FileHandle) syscall.Errno { return 0 }

// Fsync (fsync(2) and fdatasync(2)) makes the file's contents and size
// as they are now durable; its name is durable only once its directory
// is synced.
func (n *fileNode) Fsync(context.Context, fs.FileHandle, uint32) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.cut {
		return syscall.EIO
	}
	// The durable copy is changed in place: snapshots copy it.
	ino := n.StableAttr().Ino
	durable, size := n.fsys.files[ino], int64(len(n.data))
	if old := int64(len(durable)); old < size {
		durable = append(durable, n.data[old:]...)
	} else {
		durable = durable[:size]
	}
	lo, hi := min(n.dirtyLo, size), min(n.dirtyHi, size)
	if lo < hi {
		copy(durable[lo:hi], n.data[lo:hi])
	}
	n.fsys.files[ino] = durable
	n.fsys.modes[ino] = n.mode
	n.dirtyLo, n.dirtyHi = 0, 0
	return 0
}
