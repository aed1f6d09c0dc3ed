package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/restic/chunker"

	"tend/internal/hint"
	"tend/internal/snapkey"
)

// CreateOptions says what to back up.
type CreateOptions struct {
	Paths    []string  // absolute paths; each is recorded under its full path
	Excludes []string  // glob patterns matched against base names and full paths
	Host     string    // recorded host name (a host name; default: the host key's)
	Tags     []string  // free labels
	Time     time.Time // the snapshot's time (zero: now)
	// CacheDir keeps, per host and paths, the metadata of the last snapshot
	// so that unchanged files (size, mtime, ctime, inode) are not read
	// again. Empty: no cache, every file is read.
	CacheDir string
	// Workers read and seal files in parallel (0: GOMAXPROCS, at least 2).
	Workers int
}

// wnode is a node while walking: the recorded Node plus what create needs.
type wnode struct {
	Node
	path     string
	children []*wnode
	ctime    int64
	ino, dev uint64 // always set (Node's Inode and Device only for hard links)
}

type createRun struct {
	r      *Repo
	ctx    context.Context
	x      *Index
	up     *uploader
	cache  *fileCache
	mu     sync.Mutex
	seen   map[ID]struct{} // blobs added by this run
	sum    Summary
	sumMu  sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
	excl   []string
	links  map[[2]uint64]*wnode
	files  []*wnode
}

// Create records a new snapshot of opts.Paths. It needs the write key or
// the host key of opts.Host, and the recipients only, and takes no lock.
func (r *Repo) Create(ctx context.Context, opts CreateOptions) (*Snapshot, error) {
	if err := r.needRecipients("create"); err != nil {
		return nil, err
	}
	if opts.Host == "" {
		opts.Host = r.k.host
	}
	if opts.Host == "" {
		return nil, errors.New("create: no host name")
	}
	if err := snapkey.CheckHostName(opts.Host); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if r.k.mac == nil && opts.Host != r.k.host {
		return nil, hint.Wrap(fmt.Errorf("create: the host key is for %s, so it cannot record a snapshot of host %q", r.k.host, opts.Host),
			"leave --host out (it defaults to "+r.k.host+"), or use the host key of "+opts.Host+" (tend snapshot host-key "+opts.Host+")")
	}
	if len(opts.Paths) == 0 {
		return nil, errors.New("create: no paths")
	}
	start := time.Now()
	if opts.Time.IsZero() {
		opts.Time = start
	}
	paths := make([]string, len(opts.Paths))
	for i, p := range opts.Paths {
		if !filepath.IsAbs(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			p = abs
		}
		paths[i] = filepath.Clean(p)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	for _, p := range opts.Excludes {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("create: exclude pattern %q: %w", p, err)
		}
	}

	marks, err := r.loadMarks(ctx)
	if err != nil {
		return nil, err
	}
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	// Blobs a prune has marked as garbage are not reused: this snapshot
	// stores them again, so that prune may delete the marked copies.
	if len(marks) > 0 {
		marked := markedBlobs(marks)
		x.entries = slices.DeleteFunc(x.entries, func(e entry) bool { _, ok := marked[e.id]; return ok })
	}
	// Index entries are written by every host (all hold the metadata
	// key): reuse a blob only where its pack is really there.
	sizes, err := r.listPacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	x.settle(sizes)
	if n := x.dropUnstored(sizes); n > 0 {
		r.logf("warning: the index lists %d blobs in packs that are missing or shorter than it says; storing that content anew (run 'tend snapshot check')", n)
	}
	run := &createRun{r: r, ctx: ctx, x: x, seen: map[ID]struct{}{}, users: map[uint32]string{},
		groups: map[uint32]string{}, excl: opts.Excludes, links: map[[2]uint64]*wnode{}}
	group := groupKey(opts.Host, paths)
	if opts.CacheDir != "" {
		run.cache = loadCache(opts.CacheDir, r.cfg.ID, group)
	}

	// Walk: the root mirrors the absolute paths, like restic.
	root := &wnode{Node: Node{Type: TypeDir, Mode: 0o755}, path: "/"}
	for _, p := range paths {
		if err := run.addPath(root, p); err != nil {
			return nil, err
		}
	}

	workers := opts.Workers
	if workers <= 0 {
		workers = max(2, runtime.GOMAXPROCS(0))
	}
	run.up = r.newUploader(ctx, 2)
	if err := run.readFiles(workers); err != nil {
		run.up.wait()
		run.flushIndex()
		return nil, err
	}
	// Hard links: later names of one inode share the first one's content.
	for _, f := range run.files {
		if f.Links > 1 {
			first := run.links[[2]uint64{f.Device, f.Inode}]
			if first != f && first.Content != nil {
				f.Content, f.Size = first.Content, first.Size
			}
		}
	}
	pk, err := r.newPacker()
	if err != nil {
		return nil, err
	}
	comp := newCompressor()
	treeID, err := run.saveTree(root, &pk, comp)
	if err != nil {
		run.up.wait()
		run.flushIndex()
		return nil, err
	}
	run.up.upload(pk)
	if err := run.up.wait(); err != nil {
		run.flushIndex()
		return nil, err
	}
	if err := run.flushIndex(); err != nil {
		return nil, err
	}
	if err := r.checkNewMarks(ctx, marks, root, start); err != nil {
		return nil, err
	}
	sn := &Snapshot{Time: opts.Time.UTC(), Start: start.UTC(), Host: opts.Host, Paths: paths, Tags: opts.Tags, Tree: treeID, Summary: run.sum}
	if run.cache != nil && run.cache.Parent != "" {
		sn.Parent = run.cache.Parent
	}
	sn.Summary.Uploaded = uint64(run.up.bytes)
	if err := r.writeSnapshot(ctx, sn); err != nil {
		return nil, err
	}
	if opts.CacheDir != "" {
		if err := saveCache(opts.CacheDir, r.cfg.ID, group, sn.ID.String(), run.files); err != nil {
			r.logf("warning: could not save the file cache (next create reads every file): %v", err)
		}
	}
	return sn, nil
}

// flushIndex writes an index object for packs uploaded so far.
func (run *createRun) flushIndex() error {
	done := run.up.take()
	if len(done) == 0 {
		return nil
	}
	_, err := run.r.writeIndex(run.ctx, done)
	return err
}

func (run *createRun) excluded(path string) bool {
	base := filepath.Base(path)
	for _, p := range run.excl {
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
		if strings.HasPrefix(p, "/") && strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// addPath records p (and its parent directories) under root.
func (run *createRun) addPath(root *wnode, p string) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	dir := root
	cur := ""
	if p == "/" {
		parts = nil
	}
	for i, name := range parts {
		cur += "/" + name
		var child *wnode
		for _, c := range dir.children {
			if c.Name == name {
				child = c
			}
		}
		if child == nil {
			fi, err := os.Lstat(cur)
			if err != nil {
				return hint.Wrap(fmt.Errorf("create: %w", err), "check the paths to back up")
			}
			child = run.node(cur, fi)
			dir.children = append(dir.children, child)
			if i == len(parts)-1 && child.Type == TypeDir {
				if err := run.walk(child); err != nil {
					return err
				}
			}
		} else if i == len(parts)-1 && child.Type == TypeDir && child.children == nil {
			if err := run.walk(child); err != nil {
				return err
			}
		}
		if child.Type != TypeDir && i < len(parts)-1 {
			return fmt.Errorf("create: %s is not a directory", cur)
		}
		dir = child
	}
	if p == "/" {
		return run.walk(root)
	}
	return nil
}

func (run *createRun) walk(d *wnode) error {
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("create: read directory %s: %w", d.path, err)
	}
	slices.Sort(names)
	d.children = make([]*wnode, 0, len(names))
	for _, name := range names {
		p := filepath.Join(d.path, name)
		if run.excluded(p) {
			continue
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) { // deleted meanwhile
			continue
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		n := run.node(p, fi)
		if n == nil {
			continue
		}
		d.children = append(d.children, n)
		if n.Type == TypeDir {
			if err := run.walk(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// node describes one file; nil for sockets, which are not recorded.
func (run *createRun) node(p string, fi os.FileInfo) *wnode {
	st := fi.Sys().(*syscall.Stat_t)
	n := &wnode{path: p, Node: Node{Name: fi.Name(), UID: st.Uid, GID: st.Gid, MTime: st.Mtim.Nano(),
		Mode: uint32(st.Mode & 0o7777)}, ctime: st.Ctim.Nano(), ino: st.Ino, dev: st.Dev}
	n.User = run.userName(st.Uid)
	n.Group = run.groupName(st.Gid)
	switch fi.Mode().Type() {
	case 0:
		n.Type = TypeFile
		n.Size = uint64(st.Size)
		n.Inode, n.Device, n.Links = st.Ino, st.Dev, uint64(st.Nlink)
		run.files = append(run.files, n)
		if n.Links > 1 {
			k := [2]uint64{n.Device, n.Inode}
			if _, ok := run.links[k]; !ok {
				run.links[k] = n
			}
		} else {
			n.Inode, n.Device, n.Links = 0, 0, 0
		}
	case os.ModeDir:
		n.Type = TypeDir
		run.sum.Dirs++
	case os.ModeSymlink:
		n.Type = TypeSymlink
		n.Target, _ = os.Readlink(p)
	case os.ModeDevice | os.ModeCharDevice:
		n.Type, n.Rdev = TypeChar, st.Rdev
	case os.ModeDevice:
		n.Type, n.Rdev = TypeDevice, st.Rdev
	case os.ModeNamedPipe:
		n.Type = TypeFIFO
	default:
		return nil
	}
	return n
}

func (run *createRun) userName(id uint32) string {
	if n, ok := run.users[id]; ok {
		return n
	}
	name := ""
	if u, err := user.LookupId(strconv.Itoa(int(id))); err == nil {
		name = u.Username
	}
	run.users[id] = name
	return name
}

func (run *createRun) groupName(id uint32) string {
	if n, ok := run.groups[id]; ok {
		return n
	}
	name := ""
	if g, err := user.LookupGroupId(strconv.Itoa(int(id))); err == nil {
		name = g.Name
	}
	run.groups[id] = name
	return name
}

// readFiles fills every file's Content: from the cache when unchanged and
// still stored, else by reading it on the worker goroutines.
func (run *createRun) readFiles(workers int) error {
	jobs := make(chan *wnode, 256)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(run.ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{run: run, comp: newCompressor(), buf: make([]byte, 0, maxChunk)}
			for f := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := wk.file(f); err != nil {
					errc <- err
					cancel()
					continue
				}
			}
			if wk.pk != nil && ctx.Err() == nil {
				run.up.upload(wk.pk)
			}
		}()
	}
	lastFlush := time.Now()
	var err error
	for _, f := range run.files {
		run.sum.Files++
		run.sum.Bytes += f.Size
		if f.Links > 1 && run.links[[2]uint64{f.Device, f.Inode}] != f {
			continue // a later name of a hard-linked file
		}
		if run.cache.reuse(f, run.x) {
			run.sum.Unchanged++
			continue
		}
		select {
		case jobs <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if time.Since(lastFlush) > 30*time.Second {
			if err = run.flushIndex(); err != nil {
				cancel()
				break
			}
			lastFlush = time.Now()
		}
	}
	close(jobs)
	wg.Wait()
	close(errc)
	if e := <-errc; e != nil {
		return e
	}
	if err != nil {
		return err
	}
	if err := run.ctx.Err(); err != nil {
		return err
	}
	return run.up.failed()
}

// worker reads, chunks, seals and packs files.
type worker struct {
	run  *createRun
	comp *compressor
	pk   *packer
	buf  []byte
	pay  []byte
	ch   *chunker.Chunker
}

func (w *worker) file(f *wnode) error {
	fh, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		f.Content = []ID{}
		f.Size = 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer fh.Close()
	content := []ID{}
	var n uint64
	if f.Size < uint64(w.run.r.cfg.MinChunk) {
		// Small files are one chunk: skip the chunker.
		buf := w.buf[:0]
		for {
			m, err := fh.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("create: read %s: %w", f.path, err)
			}
			if len(buf) == cap(buf) {
				break // grew past a chunk: store what fits, rest via chunker below
			}
		}
		if len(buf) < cap(buf) {
			if len(buf) > 0 {
				id, err := w.blob(DataBlob, buf)
				if err != nil {
					return err
				}
				content = append(content, id)
			}
			f.Content, f.Size = content, uint64(len(buf))
			w.run.addRead(uint64(len(buf)))
			return nil
		}
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("create: %w", err)
		}
	}
	if w.ch == nil {
		w.ch = chunker.New(fh, w.run.r.pol, chunker.WithBoundaries(w.run.r.cfg.MinChunk, w.run.r.cfg.MaxChunk))
	} else {
		w.ch.Reset(fh, w.run.r.pol, chunker.WithBoundaries(w.run.r.cfg.MinChunk, w.run.r.cfg.MaxChunk))
	}
	for {
		c, err := w.ch.Next(w.buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("create: read %s: %w", f.path, err)
		}
		id, err := w.blob(DataBlob, c.Data)
		if err != nil {
			return err
		}
		content = append(content, id)
		n += uint64(c.Length)
		if w.run.ctx.Err() != nil {
			return w.run.ctx.Err()
		}
	}
	f.Content, f.Size = content, n
	w.run.addRead(n)
	return nil
}

func (run *createRun) addRead(n uint64) {
	run.sumMu.Lock()
	run.sum.Read += n
	run.sumMu.Unlock()
}

// blob stores plain unless the repository or this run already has it.
func (w *worker) blob(typ BlobType, plain []byte) (ID, error) {
	run := w.run
	id := run.r.k.blobID(plain)
	if run.x.Has(id) {
		return id, nil
	}
	run.mu.Lock()
	_, dup := run.seen[id]
	if !dup {
		run.seen[id] = struct{}{}
		run.sum.NewBlobs++
		run.sum.NewBytes += uint64(len(plain))
	}
	run.mu.Unlock()
	if dup {
		return id, nil
	}
	if w.pk == nil {
		pk, err := run.r.newPacker()
		if err != nil {
			return id, err
		}
		w.pk = pk
	}
	w.pay = w.comp.payload(plain, w.pay)
	if !w.pk.fits(len(w.pay)) {
		if err := run.up.failed(); err != nil {
			return id, err
		}
		run.up.upload(w.pk)
		pk, err := run.r.newPacker()
		if err != nil {
			return id, err
		}
		w.pk = pk
	}
	w.pk.add(id, typ, w.pay, len(plain))
	return id, nil
}

// saveTree stores the trees below d bottom-up and returns d's tree ID.
func (run *createRun) saveTree(d *wnode, pk **packer, comp *compressor) (ID, error) {
	t := Tree{Nodes: make([]Node, 0, len(d.children))}
	slices.SortFunc(d.children, func(a, b *wnode) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range d.children {
		if c.Type == TypeDir {
			id, err := run.saveTree(c, pk, comp)
			if err != nil {
				return id, err
			}
			c.Subtree = &id
		}
		t.Nodes = append(t.Nodes, c.Node)
	}
	data, err := json.Marshal(&t)
	if err != nil {
		return ID{}, err
	}
	w := &worker{run: run, comp: comp, pk: *pk}
	id, err := w.blob(TreeBlob, data)
	if err != nil {
		return id, err
	}
	if w.pk == nil {
		if w.pk, err = run.r.newPacker(); err != nil {
			return id, err
		}
	}
	*pk = w.pk
	return id, nil
}
