package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// MkdirAll creates dir and its missing parents, as os.MkdirAll does, and
// makes every creation durable: it fsyncs the parent of each directory it
// created, top down. fsync(2) makes no promise for a directory's entry in
// its parent ("For that an explicit fsync() on a file descriptor for the
// directory is also needed"), so without it a power loss soon after the
// first start could take a store's whole directory, everything synced
// inside it included.
func MkdirAll(dir string, mode fs.FileMode) error {
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}

// SyncDir fsyncs the directory dir, making the creations, renames and
// removals of its entries so far durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
