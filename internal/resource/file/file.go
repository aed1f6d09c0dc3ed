// Package file implements the path resources: file, directory, symlink and
// absent. Each compares content, type, owner, group and mode, and converges
// without leaving a partial file (write to a temporary file, sync, rename).
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tend/internal/resource"
	"tend/internal/spec"
)

func meta(mode, owner, group, def string) (resource.Meta, error) {
	if mode == "" {
		mode = def
	}
	m, err := resource.ParseMode(mode)
	if owner == "" {
		owner = "root"
	}
	if group == "" {
		group = "root"
	}
	return resource.Meta{Mode: m, Owner: owner, Group: group}, err
}

// File is a regular file with exact content.
type File struct {
	Path    string
	Content []byte
	Meta    resource.Meta
}

// NewFile makes a file resource from its spec.
func NewFile(path string, s *spec.File) (*File, error) {
	m, err := meta(s.Mode, s.Owner, s.Group, "0644")
	return &File{Path: path, Content: []byte(s.Content), Meta: m}, err
}

// Check implements resource.Resource.
func (f *File) Check(ctx context.Context) (*resource.Change, error) {
	fi, have, err := resource.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		c := &resource.Change{Action: resource.Create, Diff: resource.Diff(f.Path, "", string(f.Content))}
		c.Add("content", "", fmt.Sprintf("%d bytes", len(f.Content)))
		resource.CreateMeta(c, f.Meta)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a file: declare `absent: %s` first to replace it", f.Path, typeName(fi), f.Path)
	}
	old, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	c := &resource.Change{Action: resource.Update}
	if string(old) != string(f.Content) {
		c.Add("content", fmt.Sprintf("%d bytes", len(old)), fmt.Sprintf("%d bytes", len(f.Content)))
		if !c.Has("content") { // same length, other bytes
			c.Fields = append(c.Fields, resource.Field{Name: "content", From: "changed", To: "changed"})
		}
		c.Diff = resource.Diff(f.Path, string(old), string(f.Content))
	}
	resource.CheckMeta(c, have, f.Meta)
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (f *File) Apply(ctx context.Context, c *resource.Change) error {
	if c.Action == resource.Update && !c.Has("content") {
		return resource.SetMeta(f.Path, f.Meta)
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	return resource.WriteFile(f.Path, f.Content, f.Meta)
}

// Directory is a directory with owner, group and mode.
type Directory struct {
	Path string
	Meta resource.Meta
}

// NewDirectory makes a directory resource from its spec.
func NewDirectory(path string, s *spec.Directory) (*Directory, error) {
	m, err := meta(s.Mode, s.Owner, s.Group, "0755")
	return &Directory{Path: path, Meta: m}, err
}

// Check implements resource.Resource.
func (d *Directory) Check(ctx context.Context) (*resource.Change, error) {
	fi, have, err := resource.Stat(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		c := &resource.Change{Action: resource.Create}
		resource.CreateMeta(c, d.Meta)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is a %s, not a directory: declare `absent: %s` first to replace it", d.Path, typeName(fi), d.Path)
	}
	c := &resource.Change{Action: resource.Update}
	resource.CheckMeta(c, have, d.Meta)
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (d *Directory) Apply(ctx context.Context, c *resource.Change) error {
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return err
	}
	return resource.SetMeta(d.Path, d.Meta)
}

// Symlink is a symbolic link to a target.
type Symlink struct {
	Path, Target string
}

// Check implements resource.Resource.
func (l *Symlink) Check(ctx context.Context) (*resource.Change, error) {
	fi, err := os.Lstat(l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		c := &resource.Change{Action: resource.Create}
		c.Add("target", "", l.Target)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return nil, fmt.Errorf("%s is a %s, not a symlink: declare `absent: %s` first to replace it", l.Path, typeName(fi), l.Path)
	}
	have, err := os.Readlink(l.Path)
	if err != nil {
		return nil, err
	}
	if have == l.Target {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Update}
	c.Add("target", have, l.Target)
	return c, nil
}

// Apply implements resource.Resource: a new link is made beside the path
// and renamed over it, so the path always exists.
func (l *Symlink) Apply(ctx context.Context, c *resource.Change) error {
	dir := filepath.Dir(l.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tend-"+filepath.Base(l.Path)+".link")
	os.Remove(tmp)
	if err := os.Symlink(l.Target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.Path); err != nil {
		os.Remove(tmp)
		return err
	}
	return resource.SyncDir(dir)
}

// Absent is a path that must not exist.
type Absent struct{ Path string }

// Check implements resource.Resource.
func (a *Absent) Check(ctx context.Context) (*resource.Change, error) {
	fi, err := os.Lstat(a.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &resource.Change{Action: resource.Delete}
	c.Add("type", typeName(fi), "")
	return c, nil
}

// Apply implements resource.Resource.
func (a *Absent) Apply(ctx context.Context, c *resource.Change) error {
	if err := os.RemoveAll(a.Path); err != nil {
		return err
	}
	return resource.SyncDir(filepath.Dir(a.Path))
}

func typeName(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	default:
		return "special file"
	}
}
