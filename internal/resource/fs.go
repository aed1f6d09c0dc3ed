package resource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Meta is the ownership and permission bits of a path.
type Meta struct {
	Mode  fs.FileMode // permission bits (and setuid, setgid, sticky)
	Owner string
	Group string
}

// ParseMode parses an octal mode such as "0644".
func ParseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("invalid mode %q: want octal, e.g. 0644", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// FormatMode formats permission bits as four octal digits.
func FormatMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// IDs resolves an owner and a group name to numeric ids.
func IDs(owner, group string) (uid, gid int, err error) {
	u, err := user.Lookup(owner)
	if err != nil {
		return 0, 0, fmt.Errorf("owner %q: no such user", owner)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, 0, fmt.Errorf("group %q: no such group", group)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid, nil
}

// Stat returns the metadata of path as names, without following a final
// symlink.
func Stat(path string) (os.FileInfo, Meta, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, Meta{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	m := Meta{Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
	m.Owner = strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(m.Owner); err == nil {
		m.Owner = u.Username
	}
	m.Group = strconv.Itoa(int(st.Gid))
	if g, err := user.LookupGroupId(m.Group); err == nil {
		m.Group = g.Name
	}
	return fi, m, nil
}

// CheckMeta adds to c the differences between have and want.
func CheckMeta(c *Change, have, want Meta) {
	c.Add("mode", FormatMode(have.Mode), FormatMode(want.Mode))
	c.Add("owner", have.Owner, want.Owner)
	c.Add("group", have.Group, want.Group)
}

// CreateMeta adds to c the metadata of a path about to be created.
func CreateMeta(c *Change, want Meta) {
	c.Add("mode", "", FormatMode(want.Mode))
	c.Add("owner", "", want.Owner)
	c.Add("group", "", want.Group)
}

// SetMeta sets owner, group and mode of path (in that order: chown clears
// setuid bits).
func SetMeta(path string, m Meta) error {
	uid, gid, err := IDs(m.Owner, m.Group)
	if err != nil {
		return err
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return err
	}
	return os.Chmod(path, m.Mode)
}

// WriteFile writes data to path atomically: a temporary file in the same
// directory gets the data, owner and mode, is synced, then renamed over
// path, and the directory is synced. A reader, a crash or a kill -9 sees
// the old file or the new one, never a part.
func WriteFile(path string, data []byte, m Meta) error {
	uid, gid, err := IDs(m.Owner, m.Group)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	// A run killed in the middle of writing this file left its temporary
	// file behind: it is garbage now.
	if stale, _ := filepath.Glob(filepath.Join(dir, ".tend-"+globEscape(filepath.Base(path))+".*")); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
	}
	f, err := os.CreateTemp(dir, ".tend-"+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chown(uid, gid); err != nil {
		return err
	}
	if err := f.Chmod(m.Mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir syncs a directory, so that a rename in it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// globEscape escapes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
