package cron

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/resource"
)

// Removal removes a cron job: the file /etc/cron.d/NAME tend created goes,
// and cron stops running the job. A file that existed before tend managed
// it stays (with the job tend wrote in it), unless the spec says
// state: absent.
type Removal struct {
	Name string
}

func (r *Removal) path() string { return filepath.Join(Dir, r.Name) }

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	if !nameRE.MatchString(r.Name) {
		return nil, fmt.Errorf("invalid name %q: letters, digits, '-' and '_' only", r.Name)
	}
	fi, err := os.Lstat(r.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("%s existed before tend managed it: it stays, and cron still runs what it says; declare it with state: absent to delete it", r.path())), nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: declare `absent: %s` to remove it", r.path(), r.path())
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("file", r.path(), "")
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	if err := os.Remove(r.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return resource.SyncDir(Dir)
}
