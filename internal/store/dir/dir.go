// Package dir implements store.Store on a local directory: one file per
// object, written to a temporary file, synced and renamed into place, and
// created-only by hard-linking, so that of racing creators exactly one wins.
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"tend/internal/hint"
	"tend/internal/store"
)

// Store is a store.Store in a directory. Create it with Open.
type Store struct {
	root string // absolute, cleaned
}

var _ store.Store = (*Store)(nil)

// Open returns the store rooted at the existing directory root. It does not
// create root: a store on a backup disk that is not mounted must fail, not
// quietly fill the disk underneath.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store file://%s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hint.Wrap(fmt.Errorf("store file://%s: directory does not exist", abs),
			"create it (mkdir -p) or check that its disk is mounted")
	}
	if err != nil {
		return nil, fmt.Errorf("store file://%s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store file://%s: not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// String returns the store's URL.
func (s *Store) String() string { return "file://" + s.root }

func (s *Store) fail(op, key string, err error) error {
	// The store and key already say where; drop the file path that os
	// errors repeat, keep what failed.
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	case errors.As(err, &le):
		err = fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return &store.Error{Store: s.String(), Op: op, Key: key, Err: err}
}

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// notFound turns a missing file into store.ErrNotFound, unless the store's
// root itself has gone (an unmounted disk is an outage, not an absence).
func (s *Store) notFound(op, key string) error {
	if fi, err := os.Stat(s.root); err != nil || !fi.IsDir() {
		return s.fail(op, key, errors.New("store directory is missing"))
	}
	return s.fail(op, key, store.ErrNotFound)
}

// Put writes the object to a temporary file in the target directory, syncs
// it, then renames it into place (or, for CreateOnly, hard-links it, which
// fails if the key exists) and syncs the directory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	if err := store.ValidKey(key); err != nil {
		return s.fail("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return s.fail("put", key, err)
	}
	final := s.path(key)
	if opts.CreateOnly {
		// Fail early, before copying, in the common case.
		if _, err := os.Lstat(final); err == nil {
			return s.fail("put", key, store.ErrExists)
		}
	}
	tmp, err := s.createTemp(filepath.Dir(final))
	if err != nil {
		return s.fail("put", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return s.fail("put", key, err)
	}
	if size >= 0 && n != size {
		return s.fail("put", key, fmt.Errorf("read %d bytes, expected %d", n, size))
	}
	if err := tmp.Sync(); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Close(); err != nil {
		return s.fail("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return s.fail("put", key, err)
	}
	if opts.CreateOnly {
		err := os.Link(tmp.Name(), final)
		os.Remove(tmp.Name())
		committed = true
		if errors.Is(err, fs.ErrExist) {
			return s.fail("put", key, store.ErrExists)
		}
		if err != nil {
			return s.fail("put", key, err)
		}
	} else {
		if err := os.Rename(tmp.Name(), final); err != nil {
			return s.fail("put", key, err)
		}
		committed = true
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// createTemp creates a temporary file in dir, creating dir if needed. A
// concurrent Delete may remove an empty dir between the two steps, so retry.
func (s *Store) createTemp(dir string) (*os.File, error) {
	var err error
	for range 10 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			if errors.Is(err, syscall.ENOTDIR) {
				return nil, errors.New("a parent of the key is an object")
			}
			return nil, err
		}
		var f *os.File
		f, err = os.CreateTemp(dir, store.TempPrefix+"*")
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// open opens the object's file, mapping absence (including a key that names
// a directory, or runs through a file) to store.ErrNotFound.
func (s *Store) open(op, key string) (*os.File, os.FileInfo, error) {
	if err := store.ValidKey(key); err != nil {
		return nil, nil, s.fail(op, key, err)
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil, s.notFound(op, key)
	}
	if err != nil {
		return nil, nil, s.fail(op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, s.fail(op, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, s.notFound(op, key)
	}
	return f, fi, nil
}

// Get opens the object's file.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("get", key, err)
	}
	f, _, err := s.open("get", key)
	if err != nil {
		return nil, err
	}
	return &ctxFile{ctx: ctx, f: f, r: f}, nil
}

// GetRange opens a section of the object's file.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("get", key, err)
	}
	f, fi, err := s.open("get", key)
	if err != nil {
		return nil, err
	}
	if off < 0 || n <= 0 || off+n > fi.Size() || off+n < off {
		f.Close()
		return nil, s.fail("get", key, fmt.Errorf("bytes %d+%d of %d: %w", off, n, fi.Size(), store.ErrRange))
	}
	return &ctxFile{ctx: ctx, f: f, r: io.NewSectionReader(f, off, n)}, nil
}

// Stat describes the object's file.
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	if err := store.ValidKey(key); err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.Mode().IsRegular()) {
		return store.Info{}, s.notFound("stat", key)
	}
	if err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	return store.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the directory tree in key order: within a directory, entries
// are sorted by name with "/" appended to subdirectories, which is exactly
// the byte order of the keys beneath them, so nothing needs to be held in
// memory beyond one directory's names.
func (s *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := store.ValidPrefix(prefix); err != nil {
		return s.fail("list", prefix, err)
	}
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i+1]
	}
	err := s.walk(ctx, start, prefix, fn)
	var stop *stopError
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return s.fail("list", prefix, err)
	}
	return nil
}

// stopError carries fn's error out of the walk untouched.
type stopError struct{ err error }

func (e *stopError) Error() string { return "listing stopped" }

// walk lists the directory holding keys that start with dirKey ("" or
// ending in "/"), keeping those that start with prefix.
func (s *Store) walk(ctx context.Context, dirKey, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dirKey)))
	if errors.Is(err, fs.ErrNotExist) && dirKey != "" {
		return nil // no key has this prefix (or the directory was just removed)
	}
	if err != nil {
		return err
	}
	type entry struct {
		key string // with a trailing "/" for directories
		de  fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), store.TempPrefix) {
			continue
		}
		k := dirKey + de.Name()
		if de.IsDir() {
			k += "/"
		}
		list = append(list, entry{k, de})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range list {
		if e.de.IsDir() {
			if strings.HasPrefix(e.key, prefix) || strings.HasPrefix(prefix, e.key) {
				if err := s.walk(ctx, e.key, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(e.key, prefix) || !e.de.Type().IsRegular() || store.ValidKey(e.key) != nil {
			continue
		}
		fi, err := e.de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if err := fn(store.Info{Key: e.key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return &stopError{err: err}
		}
	}
	return nil
}

// Delete removes the object's file and then any directories left empty,
// up to (not including) the root.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return s.fail("delete", key, err)
	}
	if err := store.ValidKey(key); err != nil {
		return s.fail("delete", key, err)
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && fi.IsDir()) {
		if _, err := os.Stat(s.root); err != nil {
			return s.fail("delete", key, errors.New("store directory is missing"))
		}
		return nil
	}
	if err != nil {
		return s.fail("delete", key, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fail("delete", key, err)
	}
	for d := filepath.Dir(p); d != s.root && strings.HasPrefix(d, s.root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break // not empty, or taken by a concurrent Put: keep it
		}
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxFile reads from a file until ctx is done.
type ctxFile struct {
	ctx context.Context
	f   *os.File
	r   io.Reader
}

func (c *ctxFile) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *ctxFile) Close() error { return c.f.Close() }
