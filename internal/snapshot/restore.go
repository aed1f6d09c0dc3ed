package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
	x, err := r.readIndex(ctx)
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
	x, err := r.readIndex(ctx)
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
	x, err := r.readIndex(ctx)
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
	// Everything below dir is opened beneath it, never through a symlink
	// found there (see beneath).
	bn, err := openBeneath(dir)
	if err != nil {
		return nil, err
	}
	defer bn.close()
	// Parents of path are created plainly.
	if parent := filepath.Dir(path); path != "/" && parent != "/" {
		p := ""
		for _, c := range strings.Split(strings.TrimPrefix(parent, "/"), "/") {
			p += "/" + c
			made, err := bn.mkdir(p)
			if err != nil {
				return nil, err
			}
			if made { // an existing parent is left as it is
				if err := bn.setMeta(p, &Node{Type: TypeDir, Mode: 0o755, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), MTime: time.Now().UnixNano()}); err != nil {
					return nil, err
				}
			}
		}
	}
	type item struct {
		path string
		n    Node
	}
	var files, dirs, others []item
	add := func(p string, n *Node) error {
		if _, _, err := split(p); err != nil || strings.Contains(n.Name, "/") {
			return fmt.Errorf("restore: refusing the name %q in snapshot %s: it would leave the target", n.Name, sn.ID.Short())
		}
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
		if err := add(path, top); err != nil {
			return nil, err
		}
	}
	if top.Type == TypeDir && top.Subtree != nil {
		if err := r.walkTrees(ctx, br, *top.Subtree, path, nil, add); err != nil {
			return nil, err
		}
	}
	res := &RestoreResult{}
	for _, d := range dirs { // parents come before their children
		if _, err := bn.mkdir(d.path); err != nil {
			return nil, err
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
		n, err := r.restoreFile(ctx, br, bn, todo[i].path, &todo[i].n)
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
		if err := bn.link(l.path, l.n.Name); err != nil {
			return nil, err
		}
		res.Links++
	}
	for _, o := range others {
		if err := restoreSpecial(bn, o.path, &o.n); err != nil {
			return nil, err
		}
	}
	// Directory metadata last, deepest first, so that writing into a
	// directory does not change its restored mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := bn.setMeta(dirs[i].path, &dirs[i].n); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// restoreFile writes the file p under a temporary name and renames it
// into place: an existing file or symlink at p is replaced, never written
// through.
func (r *Repo) restoreFile(ctx context.Context, br *blobReader, bn *beneath, p string, n *Node) (uint64, error) {
	var off int64
	err := bn.replace(p, n, func(dirfd int, tmp string) error {
		fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), bn.show(p))
		for _, id := range n.Content {
			data, err := br.load(ctx, id)
			if err != nil {
				f.Close()
				return err
			}
			if !allZero(data) {
				if _, err := f.WriteAt(data, off); err != nil {
					f.Close()
					return err
				}
			}
			off += int64(len(data))
		}
		if err := f.Truncate(off); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	return uint64(off), err
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

func restoreSpecial(bn *beneath, p string, n *Node) error {
	var mk func(dirfd int, tmp string) error
	switch n.Type {
	case TypeSymlink:
		mk = func(dirfd int, tmp string) error { return unix.Symlinkat(n.Target, dirfd, tmp) }
	case TypeFIFO:
		mk = func(dirfd int, tmp string) error { return unix.Mkfifoat(dirfd, tmp, 0o600) }
	case TypeDevice:
		mk = func(dirfd int, tmp string) error { return unix.Mknodat(dirfd, tmp, unix.S_IFBLK|0o600, int(n.Rdev)) }
	case TypeChar:
		mk = func(dirfd int, tmp string) error { return unix.Mknodat(dirfd, tmp, unix.S_IFCHR|0o600, int(n.Rdev)) }
	default:
		return nil
	}
	return bn.replace(p, n, mk)
}

// link makes p another name of the already restored file first.
func (b *beneath) link(first, p string) error {
	ffd, fname, err := b.parent(first)
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	return b.replace(p, nil, func(dirfd int, tmp string) error {
		if err := unix.Linkat(ffd, fname, dirfd, tmp, 0); err != nil {
			return fmt.Errorf("hard link to %s: %w", b.show(first), err)
		}
		return nil
	})
}
