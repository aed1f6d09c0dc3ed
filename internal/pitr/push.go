package pitr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"tend/internal/atomicfile"
	"time"
)

// PushReady archives the WAL file at path (PostgreSQL's %p) and, in
// parallel, up to Parallel-1 other files PostgreSQL has marked ready, so
// that archiving keeps up with a busy server although PostgreSQL archives
// one file at a time. Files pushed ahead are recorded under the state
// directory with their identity (inode, size, modification time); when
// PostgreSQL then asks for one that is unchanged, the call returns at once.
func (c *Config) PushReady(ctx context.Context, a *Archive, path string) error {
	name := filepath.Base(path)
	if err := ValidName(name); err != nil {
		return err
	}
	markers := filepath.Join(c.StateDir, "pushed")
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	// Pushed ahead, and the file is the very one pushed (same inode, size
	// and modification time): done without reading it again.
	if rec, err := os.ReadFile(filepath.Join(markers, name)); err == nil {
		os.Remove(filepath.Join(markers, name)) // used now, or stale
		if string(rec) == identity(fi) {
			return nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ahead := c.readyAhead(filepath.Dir(path), name, markers)
	var wg sync.WaitGroup
	for _, n := range ahead {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(filepath.Dir(path), n)
			before, err := os.Stat(p)
			if err != nil {
				return // PostgreSQL will ask again and report
			}
			d, err := os.ReadFile(p)
			if err != nil {
				return
			}
			after, err := os.Stat(p)
			if err != nil || identity(after) != identity(before) {
				return // changed while read: PostgreSQL's own call will push it
			}
			if a.Push(ctx, n, d) == nil {
				if os.MkdirAll(markers, 0o700) == nil {
					atomicfile.Write(filepath.Join(markers, n), []byte(identity(before)), 0o600)
				}
			}
		}()
	}
	err = a.Push(ctx, name, data)
	wg.Wait()
	c.cleanMarkers(markers)
	return err
}

// identity names a file's version: device, inode, size and modification
// time. PostgreSQL never rewrites a segment marked ready in place.
func identity(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
}

// readyAhead lists other files marked ready in pg_wal/archive_status,
// oldest name first, not yet pushed ahead.
func (c *Config) readyAhead(walDir, name, markers string) []string {
	if c.Parallel <= 1 {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(walDir, "archive_status"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".ready")
		if !ok || n == name || ValidName(n) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(markers, n)); err == nil {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) > c.Parallel-1 {
		out = out[:c.Parallel-1]
	}
	return out
}

// cleanMarkers removes records older than a day: PostgreSQL archived those
// files some other way (or they were removed).
func (c *Config) cleanMarkers(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// FetchTo writes the archived WAL file name to dest (PostgreSQL's %f and
// %p), and prefetches the next Parallel segments of the timeline into a
// directory beside dest, so that replay does not wait for the store one
// segment at a time. Transient errors are retried; the error returned
// wraps ErrAbsent only when the file is truly not archived.
func (c *Config) FetchTo(ctx context.Context, a *Archive, name, dest string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	pre := filepath.Join(filepath.Dir(dest), ".tend-prefetch")
	if err := os.Rename(filepath.Join(pre, name), dest); err == nil {
		c.prefetch(ctx, a, name, pre)
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.prefetch(ctx, a, name, pre) }()
	defer wg.Wait()
	var data []byte
	var err error
	for try := 0; try < 4; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(1<<try) * 500 * time.Millisecond):
			}
		}
		data, err = a.Fetch(ctx, name)
		if err == nil || errors.Is(err, ErrAbsent) || errors.Is(err, ErrGap) {
			break
		}
	}
	if err != nil {
		return err
	}
	return atomicfile.Write(dest, data, 0o600)
}

// prefetch fetches the segments after name not already prefetched. With
// wait false it still waits (the caller's fetch runs meanwhile); errors are
// ignored: the real fetch reports them.
func (c *Config) prefetch(ctx context.Context, a *Archive, name, dir string) {
	seg, ok := ParseSegment(name, a.segSize())
	if !ok || c.Parallel <= 1 {
		return
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	var wg sync.WaitGroup
	next := seg
	for i := 0; i < c.Parallel; i++ {
		next = next.Next()
		n := next.Name(a.segSize())
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, err := a.Fetch(ctx, n)
			if err == nil {
				atomicfile.Write(filepath.Join(dir, n), data, 0o600)
			}
		}()
	}
	wg.Wait()
}
