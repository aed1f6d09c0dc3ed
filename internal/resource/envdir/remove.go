package envdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	readenv "tend/internal/envdir"
	"tend/internal/resource"
)

// Removal removes an envdir: the directory tend created goes with the
// variable files tend wrote in it. A directory holding anything else (a
// file tend did not write, a dot file, a subdirectory) stays, and so does
// one that existed before tend managed it, unless the spec says
// state: absent: then every variable file goes, whoever wrote it, but
// still not a directory holding anything else.
type Removal struct {
	Path string
	Vars []string // the variables the spec declares
}

// NewRemoval makes the removal of the envdir at path, declaring vars.
func NewRemoval(path string, vars []string) *Removal {
	slices.Sort(vars)
	return &Removal{Path: path, Vars: vars}
}

// tendTemp reports whether name is a temporary file of resource.WriteFile,
// left by a write that was interrupted.
func tendTemp(name string) bool { return strings.HasPrefix(name, ".tend-") }

// files returns the files of the directory that are tend's (the declared
// variables, any variable file when explicit, tend's temporary files) and
// the entries that are not.
func (r *Removal) files(explicit bool) (mine, foreign []string, err error) {
	entries, err := os.ReadDir(r.Path)
	if err != nil {
		return nil, nil, err
	}
	for _, ent := range entries {
		name := ent.Name()
		regular := ent.Type().IsRegular()
		switch {
		case regular && tendTemp(name):
			mine = append(mine, name)
		case regular && slices.Contains(r.Vars, name):
			mine = append(mine, name)
		case regular && explicit && !strings.HasPrefix(name, ".") && readenv.ValidName(name) == nil:
			mine = append(mine, name)
		default:
			foreign = append(foreign, name)
		}
	}
	return mine, foreign, nil
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	fi, err := os.Lstat(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return resource.Kept(fmt.Sprintf("%s is no longer a directory: it is not the envdir tend made", r.Path)), nil
	}
	if !how.Created && !how.Explicit {
		return resource.Kept(fmt.Sprintf("the directory %s existed before tend managed it: it stays, with its files; declare it with state: absent to delete it", r.Path)), nil
	}
	mine, foreign, err := r.files(how.Explicit)
	if err != nil {
		return nil, err
	}
	if len(foreign) > 0 {
		what := fmt.Sprintf("%d entries", len(foreign))
		if len(foreign) == 1 {
			what = "an entry"
		}
		if len(foreign) > 3 {
			foreign = append(foreign[:3], "...")
		}
		return resource.Kept(fmt.Sprintf("%s holds %s tend did not write (%s): it stays, with all its files; remove them by hand and apply again to delete it", r.Path, what, strings.Join(foreign, ", "))), nil
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("directory", r.Path, "")
	c.Add("variables", strings.Join(slices.DeleteFunc(mine, tendTemp), ","), "")
	return c, nil
}

// Remove implements resource.Remover: tend's files go, then the directory,
// which the system refuses to remove if anything else appeared in it
// meanwhile.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	mine, _, err := r.files(how.Explicit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range mine {
		if err := os.Remove(filepath.Join(r.Path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w (something was written in it since the plan: apply again)", r.Path, err)
	}
	return resource.SyncDir(filepath.Dir(r.Path))
}
