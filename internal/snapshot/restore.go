package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// subtree finds the node at path (absolute, "/" for the root) in sn.
func (r *Repo) subtree(ctx context.Context, br *blobReader, sn *Snapshot, path string) (*Node, error) {
	root := &Node{Type: TypeDir, Subtree: &sn.Tree, Mode: 0o755}
	path = filepath.Clean("/" + path)
	if path == "/" {
		return root, nil
	}
	cur := root
	for _, name := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if cur.Type != TypeDir || cur.Subtree == nil {
			return nil, fmt.Errorf("snapshot %s: %s: not found", sn.ID.Short(), path)
		}
		t, err := r.loadTree(ctx, br, *cur.Subtree)
		if err != nil {
			return nil, err
		}
		i, ok := slices.BinarySearchFunc(t.Nodes, name, func(n Node, s string) int { return strings.Compare(n.Name, s) })
		if !ok {
			return nil, fmt.Errorf("snapshot %s: %s: not found", sn.ID.Short(), path)
		}
		cur = &t.Nodes[i]
	}
	return cur, nil
}

// LsEntry is one line of Ls.
type LsEntry struct {
	Path string
	Node Node
}

// Ls lists the entries at and below path in the snapshot.
func (r *Repo) Ls(ctx context.Context, sn *Snapshot, path string) ([]LsEntry, error) {
	if err := r.needIdentity("ls"); err != nil {
		return nil, err
	}
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	br := r.newBlobReader(x)
	n, err := r.subtree(ctx, br, sn, path)
	if err != nil {
		return nil, err
	}
	path = filepath.Clean("/" + path)
	var out []LsEntry
	if path != "/" {
		out = append(out, LsEntry{Path: path, Node: *n})
	}
	if n.Type == TypeDir && n.Subtree != nil {
		err = r.walkTrees(ctx, br, *n.Subtree, path, nil, func(p string, n *Node) error {
			out = append(out, LsEntry{Path: p, Node: *n})
			return nil
		})
	}
	return out, err
}

// Change is one difference between two snapshots.
type Change struct {
	Path string
	What string // "added", "removed", "modified"
}

// Diff lists the paths added, removed or modified from a to b.
func (r *Repo) Diff(ctx context.Context, a, b *Snapshot) ([]Change, error) {
	if err := r.needIdentity("diff"); err != nil {
		return nil, err
	}
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	br := r.newBlobReader(x)
	collect := func(sn *Snapshot) (map[string]Node, error) {
		m := map[string]Node{}
		err := r.walkTrees(ctx, br, sn.Tree, "/", nil, func(p string, n *Node) error {
			c := *n
			c.Subtree = nil // a directory changes only by its own metadata
			m[p] = c
			return nil
		})
		return m, err
	}
	ma, err := collect(a)
	if err != nil {
		return nil, err
	}
	mb, err := collect(b)
	if err != nil {
		return nil, err
	}
	var out []Change
	for p, na := range ma {
		nb, ok := mb[p]
		switch {
		case !ok:
			out = append(out, Change{p, "removed"})
		case !sameNode(na, nb):
			out = append(out, Change{p, "modified"})
		}
	}
	for p := range mb {
		if _, ok := ma[p]; !ok {
			out = append(out, Change{p, "added"})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func sameNode(a, b Node) bool {
	return a.Type == b.Type && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.MTime == b.MTime &&
		a.Size == b.Size && a.Target == b.Target && a.Rdev == b.Rdev && slices.Equal(a.Content, b.Content)
}

// RestoreResult counts what Restore wrote.
type RestoreResult struct {
	Files, Dirs, Links uint64
	Bytes              uint64
}

// Restore writes path of the snapshot (all of it for "" or "/") under dir,
// keeping the full path (restoring /var/mail to /tmp/r gives
// /tmp/r/var/mail). Content is verified against the keyed blob IDs;
// owners are set when running as root; holes (all-zero chunks) are not
// written, so sparse files stay sparse.
func (r *Repo) Restore(ctx context.Context, sn *Snapshot, path, dir string, workers int) (*RestoreResult, error) {
	if err := r.needIdentity("restore"); err != nil {
		return nil, err
	}
	x, err := r.LoadIndex(ctx)
	if err != nil {
		return nil, err
	}
	br := r.newBlobReader(x)
	top, err := r.subtree(ctx, br, sn, path)
	if err != nil {
		return nil, err
	}
	path = filepath.Clean("/" + path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// Parents of path are created plainly.
	if parent := filepath.Dir(path); path != "/" && parent != "/" {
		if err := os.MkdirAll(filepath.Join(dir, parent), 0o755); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	type item struct {
		path string
		n    Node
	}
	var files, dirs, others []item
	add := func(p string, n *Node) error {
		switch n.Type {
		case TypeDir:
			dirs = append(dirs, item{p, *n})
		case TypeFile:
			files = append(files, item{p, *n})
		default:
			others = append(others, item{p, *n})
		}
		return nil
	}
	if path != "/" {
		add(path, top)
	}
	if top.Type == TypeDir && top.Subtree != nil {
		if err := r.walkTrees(ctx, br, *top.Subtree, path, nil, add); err != nil {
			return nil, err
		}
	}
	res := &RestoreResult{}
	target := func(p string) string { return filepath.Join(dir, p) }
	for _, d := range dirs {
		if err := os.Mkdir(target(d.path), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("restore: %w", err)
		}
		res.Dirs++
	}
	// Files in parallel; later names of a hard-linked inode are linked.
	first := map[[2]uint64]string{}
	var todo, linked []item
	for _, f := range files {
		if f.n.Links > 1 {
			k := [2]uint64{f.n.Device, f.n.Inode}
			if p, ok := first[k]; ok {
				linked = append(linked, item{p, f.n})
				linked[len(linked)-1].n.Name = f.path // (name reused as the link's path)
				continue
			}
			first[k] = f.path
		}
		todo = append(todo, f)
	}
	if workers <= 0 {
		workers = 4
	}
	var mu sync.Mutex
	err = parallel(ctx, len(todo), workers, func(i int) error {
		n, err := r.restoreFile(ctx, br, target(todo[i].path), &todo[i].n)
		if err != nil {
			return err
		}
		mu.Lock()
		res.Files++
		res.Bytes += n
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range linked {
		dst := target(l.n.Name)
		os.Remove(dst)
		if err := os.Link(target(l.path), dst); err != nil {
			return nil, fmt.Errorf("restore: hard link: %w", err)
		}
		res.Links++
	}
	for _, o := range others {
		if err := restoreSpecial(target(o.path), &o.n); err != nil {
			return nil, err
		}
	}
	// Directory metadata last, deepest first, so that writing into a
	// directory does not change its restored mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setMeta(target(dirs[i].path), &dirs[i].n); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (r *Repo) restoreFile(ctx context.Context, br *blobReader, dst string, n *Node) (uint64, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	var off int64
	for _, id := range n.Content {
		data, err := br.load(ctx, id)
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("restore %s: %w", dst, err)
		}
		if !allZero(data) {
			if _, err := f.WriteAt(data, off); err != nil {
				f.Close()
				return 0, fmt.Errorf("restore: %w", err)
			}
		}
		off += int64(len(data))
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return uint64(off), setMeta(dst, n)
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if *(*uint64)(unsafe.Pointer(&b[0])) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func restoreSpecial(dst string, n *Node) error {
	os.Remove(dst)
	var err error
	switch n.Type {
	case TypeSymlink:
		err = os.Symlink(n.Target, dst)
	case TypeFIFO:
		err = syscall.Mkfifo(dst, 0o600)
	case TypeDevice:
		err = syscall.Mknod(dst, syscall.S_IFBLK|0o600, int(n.Rdev))
	case TypeChar:
		err = syscall.Mknod(dst, syscall.S_IFCHR|0o600, int(n.Rdev))
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %s: %w", dst, err)
	}
	return setMeta(dst, n)
}

// setMeta applies owner (as root), mode and mtime.
func setMeta(p string, n *Node) error {
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if n.Type != TypeSymlink {
		if err := syscall.Chmod(p, n.Mode&0o7777); err != nil {
			return fmt.Errorf("restore: chmod %s: %w", p, err)
		}
	}
	return lutimes(p, n.MTime)
}

// lutimes sets atime and mtime without following a symlink.
func lutimes(p string, mtime int64) error {
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(mtime), syscall.NsecToTimespec(mtime)}
	b, err := syscall.BytePtrFromString(p)
	if err != nil {
		return err
	}
	atFDCWD := -100
	const atSymlinkNofollow = 0x100
	_, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(b)),
		uintptr(unsafe.Pointer(&ts[0])), atSymlinkNofollow, 0, 0)
	if e != 0 {
		return fmt.Errorf("restore: set times of %s: %w", p, e)
	}
	return nil
}
