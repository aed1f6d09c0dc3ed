package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/hint"
	"tend/internal/resource"
)

// Removal removes a git deployment. Its directory may hold what the
// application wrote (uploads, caches, local edits in a release), so it
// stays on the host when it leaves the spec; it is deleted, whole, only
// when the spec says state: absent and delete_data: true.
type Removal struct {
	Dir string
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	fi, err := os.Lstat(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory: tend leaves it", r.Dir)
	case !how.Explicit:
		return resource.Kept(fmt.Sprintf("%s is left on the host: a deployment may hold files the application wrote; declare it with state: absent and delete_data: true to delete it", r.Dir)), nil
	case !how.DeleteData:
		return nil, hint.Wrap(fmt.Errorf("%s: state: absent alone does not delete a deployment, which may hold files the application wrote", r.Dir),
			"add delete_data: true to delete the directory with everything in it")
	}
	c := &resource.Change{Action: resource.Delete}
	n := 0
	if entries, err := os.ReadDir(filepath.Join(r.Dir, "releases")); err == nil {
		for _, e := range entries {
			if e.IsDir() && e.Name()[0] != '.' {
				n++
			}
		}
	}
	c.Add("directory", fmt.Sprintf("%s (%d releases)", r.Dir, n), "")
	return c, nil
}

// Remove implements resource.Remover: the directory goes with everything
// in it. Interrupted, the next run finishes it.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if !how.Explicit || !how.DeleteData {
		return fmt.Errorf("%s: a deployment is deleted only with state: absent and delete_data: true", r.Dir)
	}
	if err := os.RemoveAll(r.Dir); err != nil {
		return err
	}
	return resource.SyncDir(filepath.Dir(r.Dir))
}
