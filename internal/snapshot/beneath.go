package snapshot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"tend/internal/hint"
)

// beneath creates and replaces entries below one directory (the restore
// target) without ever following a symlink found there: every parent is
// opened beneath the root with openat2 (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS),
// or component by component with O_NOFOLLOW where openat2 is unavailable,
// and every entry is made under a temporary name and renamed over what is
// there, so an existing file or link is replaced, never written through.
type beneath struct {
	root    int // directory fd of the target
	dir     string
	noOpen2 atomic.Bool // openat2 is unavailable here
}

// noOpenat2 makes restores take the O_NOFOLLOW fallback (for tests).
var noOpenat2 bool

func openBeneath(dir string) (*beneath, error) {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("restore: open %s: %w", dir, err)
	}
	b := &beneath{root: fd, dir: dir}
	b.noOpen2.Store(noOpenat2)
	return b, nil
}

func (b *beneath) close() { unix.Close(b.root) }

// show is p (absolute within the snapshot) as the user sees it on disk.
func (b *beneath) show(p string) string { return filepath.Join(b.dir, p) }

// split checks p and returns its parent's components and its base name.
// Names from a tree are untrusted: ".", "..", "" or a "/" inside a
// component would leave the target.
func split(p string) ([]string, string, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for _, c := range parts {
		if c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0 {
			return nil, "", fmt.Errorf("restore: refusing the path %q from the snapshot: it would leave the target", p)
		}
	}
	return parts[:len(parts)-1], parts[len(parts)-1], nil
}

// errLink is the refusal to go through a symlink below the target.
func (b *beneath) errLink(p string) error {
	return hint.Wrap(fmt.Errorf("restore: %s: a parent directory is a symlink or not a directory; not following it out of %s", b.show(p), b.dir),
		"restore into an empty directory, or remove what is there")
}

// openDir opens the directory whose components are parts, beneath root,
// never following a symlink. The caller closes the fd.
func (b *beneath) openDir(parts []string, p string) (int, error) {
	if len(parts) == 0 {
		fd, err := unix.Dup(b.root)
		if err != nil {
			return -1, fmt.Errorf("restore: %w", err)
		}
		return fd, nil
	}
	if !b.noOpen2.Load() {
		fd, err := unix.Openat2(b.root, strings.Join(parts, "/"), &unix.OpenHow{
			Flags:   unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
			b.noOpen2.Store(true) // old kernel, or filtered: fall back
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV):
			return -1, b.errLink(p)
		default:
			return -1, fmt.Errorf("restore: open %s: %w", b.show(p), err)
		}
	}
	fd, err := unix.Dup(b.root)
	if err != nil {
		return -1, fmt.Errorf("restore: %w", err)
	}
	for _, c := range parts {
		next, err := unix.Openat(fd, c, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, b.errLink(p)
		}
		if err != nil {
			return -1, fmt.Errorf("restore: open %s: %w", b.show(p), err)
		}
		fd = next
	}
	return fd, nil
}

// parent opens p's parent directory and returns it with p's base name.
func (b *beneath) parent(p string) (int, string, error) {
	parts, name, err := split(p)
	if err != nil {
		return -1, "", err
	}
	fd, err := b.openDir(parts, p)
	return fd, name, err
}

func tempName() string {
	var r [8]byte
	rand.Read(r[:])
	return ".tend-restore-" + hex.EncodeToString(r[:])
}

// mkdir makes directory p (mode 0700 until its metadata is set). An
// existing directory is kept; anything else there (a file, a symlink) is
// replaced by the directory. It reports whether it made one.
func (b *beneath) mkdir(p string) (bool, error) {
	fd, name, err := b.parent(p)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	err = unix.Mkdirat(fd, name, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return false, fmt.Errorf("restore: %s: %w", b.show(p), err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return false, nil
		}
		if err := unix.Unlinkat(fd, name, 0); err != nil {
			return false, fmt.Errorf("restore: replace %s by a directory: %w", b.show(p), err)
		}
		err = unix.Mkdirat(fd, name, 0o700)
	}
	if err != nil {
		return false, fmt.Errorf("restore: mkdir %s: %w", b.show(p), err)
	}
	return true, nil
}

// replace makes an entry under a temporary name in p's parent with make,
// sets its metadata, and renames it over p.
func (b *beneath) replace(p string, n *Node, make func(dirfd int, tmp string) error) error {
	fd, name, err := b.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tmp := tempName()
	if err := make(fd, tmp); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return fmt.Errorf("restore: %s: %w", b.show(p), err)
	}
	if n != nil {
		if err := metaAt(fd, tmp, n); err != nil {
			unix.Unlinkat(fd, tmp, 0)
			return fmt.Errorf("restore: %s: %w", b.show(p), err)
		}
	}
	if err := unix.Renameat(fd, tmp, fd, name); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return fmt.Errorf("restore: %s: %w", b.show(p), err)
	}
	return nil
}

// metaAt applies owner (as root), mode and mtime to name in dirfd without
// following a symlink.
func metaAt(dirfd int, name string, n *Node) error {
	if os.Geteuid() == 0 {
		if err := unix.Fchownat(dirfd, name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if n.Type != TypeSymlink {
		// fchmodat cannot refuse to follow a link on every kernel: go
		// through an O_PATH fd of the entry itself.
		pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		var st unix.Stat_t
		err = unix.Fstat(pfd, &st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			err = errors.New("is a symlink")
		}
		if err == nil {
			err = unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", pfd), n.Mode&0o7777)
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.MTime), unix.NsecToTimespec(n.MTime)}
	if err := unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// setMeta applies n's metadata to p (a directory, after its contents).
func (b *beneath) setMeta(p string, n *Node) error {
	fd, name, err := b.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := metaAt(fd, name, n); err != nil {
		return fmt.Errorf("restore: %s: %w", b.show(p), err)
	}
	return nil
}
