package snapshot

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"os"
	"path/filepath"
)

// fileCache is the local record of the last snapshot of one host and set
// of paths: per file its size, mtime, ctime, inode and content. It lives
// on the host (the host has the files anyway) and never in the store, so
// hosts need not read old trees, which are sealed from them.
type fileCache struct {
	Parent string
	Files  map[string]cacheEntry
}

type cacheEntry struct {
	Size, Inode, Device uint64
	MTime, CTime        int64
	Content             []ID
}

func cachePath(dir, repoID, group string) string {
	h := sha256.Sum256([]byte(group))
	return filepath.Join(dir, repoID, hex.EncodeToString(h[:16]))
}

// loadCache returns the cache, or an empty one when it is missing or
// unreadable (then every file is read: slower, never wrong).
func loadCache(dir, repoID, group string) *fileCache {
	c := &fileCache{Files: map[string]cacheEntry{}}
	f, err := os.Open(cachePath(dir, repoID, group))
	if err != nil {
		return c
	}
	defer f.Close()
	var got fileCache
	if gob.NewDecoder(f).Decode(&got) != nil || got.Files == nil {
		return c
	}
	return &got
}

// reuse fills f's content from the cache when the file is unchanged and
// every blob is still in the index.
func (c *fileCache) reuse(f *wnode, x *Index) bool {
	if c == nil {
		return false
	}
	e, ok := c.Files[f.path]
	if !ok || e.Size != f.Size || e.MTime != f.MTime || e.CTime != f.ctime || e.Inode != f.ino || e.Device != f.dev {
		return false
	}
	for _, id := range e.Content {
		if !x.Has(id) {
			return false
		}
	}
	f.Content = e.Content
	return true
}

// saveCache replaces the cache atomically.
func saveCache(dir, repoID, group, parent string, files []*wnode) error {
	c := fileCache{Parent: parent, Files: make(map[string]cacheEntry, len(files))}
	for _, f := range files {
		if f.Content == nil {
			continue
		}
		c.Files[f.path] = cacheEntry{Size: f.Size, Inode: f.ino, Device: f.dev, MTime: f.MTime, CTime: f.ctime, Content: f.Content}
	}
	p := cachePath(dir, repoID, group)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := gob.NewEncoder(tmp).Encode(&c); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
