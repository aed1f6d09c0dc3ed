package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/resource"
)

// Removal removes a path resource of kind ("file", "directory",
// "symlink" or "absent") at path: what tend created goes, what was there
// before tend stays (a symlink tend re-pointed goes back to its old
// target), and a directory is removed only when empty, unless the spec
// says delete_data.
type Removal struct {
	Kind, Path string
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	if r.Kind == "absent" {
		return nil, nil // nothing to undo
	}
	fi, err := os.Lstat(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	have := typeName(fi)
	if have != r.Kind {
		if how.Explicit {
			return nil, fmt.Errorf("%s is a %s, not a %s: declare `%s: %s` with state: absent", r.Path, have, r.Kind, have, r.Path)
		}
		return resource.Kept(fmt.Sprintf("%s is now a %s, not the %s tend made", r.Path, have, r.Kind)), nil
	}
	if !how.Created && !how.Explicit {
		if target, ok := how.Prior["target"]; ok && r.Kind == "symlink" && target != "" {
			now, err := os.Readlink(r.Path)
			if err != nil {
				return nil, err
			}
			if now == target {
				return nil, nil
			}
			c := &resource.Change{Action: resource.Update, Reason: "back to the target it had before tend"}
			c.Add("target", now, target)
			return c, nil
		}
		return resource.Kept(fmt.Sprintf("the %s existed before tend managed it; declare it with state: absent to delete it", r.Kind)), nil
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("type", have, "")
	if r.Kind == "directory" {
		n, err := entries(r.Path, how.Going)
		if err != nil {
			return nil, err
		}
		if n > 0 && !how.DeleteData {
			msg := fmt.Sprintf("the directory holds %d entries tend does not manage; add delete_data: true to delete it with its contents", n)
			if how.Explicit {
				return nil, errors.New(msg)
			}
			return resource.Kept(msg), nil
		}
		if n > 0 {
			c.Add("entries", fmt.Sprint(n), "")
		}
	}
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if c.Action == resource.Update { // a symlink back to its old target
		return (&Symlink{Path: r.Path, Target: how.Prior["target"]}).Apply(ctx, c)
	}
	var err error
	if r.Kind == "directory" && how.DeleteData {
		err = os.RemoveAll(r.Path)
	} else {
		err = os.Remove(r.Path)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return resource.SyncDir(filepath.Dir(r.Path))
}

// entries counts what dir holds, but for the paths in going.
func entries(dir string, going map[string]bool) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(0)
	n := 0
	for _, name := range names {
		if !going[filepath.Join(dir, name)] {
			n++
		}
	}
	return n, err
}
