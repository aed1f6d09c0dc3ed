// Package envdir implements the envdir resource: a directory holding one
// file per environment variable, read by daemontools' envdir (and by
// tend/internal/envdir): the file's first line is the value.
//
// Each value is written as its first line followed by a newline; a newline
// inside a value is written as a NUL byte, which envdir turns back into a
// newline. An empty value is a file holding only a newline (an empty file
// would unset the variable). A value ending in a space or tab is refused:
// envdir strips them. Files in the directory that are not declared are
// removed, except dot files, which envdir ignores (tend's own temporary
// files are dot files).
//
// With Secret, the directory is 0700 and the files 0600, and no value
// appears in a change: fields show "(sensitive)". Otherwise 0755 and 0644.
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
	"tend/internal/spec"
)

// Envdir is a directory of variables.
type Envdir struct {
	Path   string
	Vars   map[string]string
	Secret bool
	Owner  string
	Group  string
}

// New makes an envdir resource from its spec.
func New(path string, s *spec.Envdir) (*Envdir, error) {
	e := &Envdir{Path: path, Vars: map[string]string{}, Secret: s.Secret, Owner: s.Owner, Group: s.Group}
	if e.Owner == "" {
		e.Owner = "root"
	}
	if e.Group == "" {
		e.Group = "root"
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
		return nil, fmt.Errorf("%q must be an absolute path other than /", path)
	}
	for k, v := range s.Vars {
		if err := readenv.ValidName(k); err != nil || strings.HasPrefix(k, ".") || strings.Contains(k, "/") {
			return nil, fmt.Errorf("invalid variable name %q: letters, digits and '_'", k)
		}
		if err := CheckValue(v); err != nil {
			return nil, fmt.Errorf("variable %s: %w", k, err)
		}
		e.Vars[k] = v
	}
	return e, nil
}

// CheckValue reports a value envdir cannot give back as written.
func CheckValue(v string) error {
	switch {
	case strings.ContainsRune(v, 0):
		return errors.New("value contains a NUL byte, which envdir turns into a newline")
	case strings.HasSuffix(v, " ") || strings.HasSuffix(v, "\t"):
		return errors.New("value ends with a space or tab, which envdir removes: quote it in the program that reads it, or drop it")
	}
	return nil
}

// Encode returns the content of a variable's file.
func Encode(value string) []byte {
	return []byte(strings.ReplaceAll(value, "\n", "\x00") + "\n")
}

func (e *Envdir) metas() (dir, file resource.Meta) {
	if e.Secret {
		return resource.Meta{Mode: 0o700, Owner: e.Owner, Group: e.Group}, resource.Meta{Mode: 0o600, Owner: e.Owner, Group: e.Group}
	}
	return resource.Meta{Mode: 0o755, Owner: e.Owner, Group: e.Group}, resource.Meta{Mode: 0o644, Owner: e.Owner, Group: e.Group}
}

// show returns a value as a change may show it.
func (e *Envdir) show(v string) string {
	if e.Secret {
		return "(sensitive)"
	}
	return v
}

// Check implements resource.Resource. Fields are named "dir mode", "NAME
// mode", "NAME" (the value) and so on.
func (e *Envdir) Check(ctx context.Context) (*resource.Change, error) {
	dirMeta, fileMeta := e.metas()
	c := &resource.Change{Action: resource.Update, Sensitive: e.Secret}
	fi, have, err := resource.Stat(e.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Action = resource.Create
		resource.CheckMeta(c, resource.Meta{}, dirMeta)
		prefix(c, 0, "dir ")
		for _, k := range e.names() {
			c.Add(k, "", e.show(e.Vars[k]))
		}
		return c, nil
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory: declare `absent: %s` first to replace it", e.Path, e.Path)
	}
	resource.CheckMeta(c, have, dirMeta)
	prefix(c, 0, "dir ")
	entries, err := os.ReadDir(e.Path)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		present[name] = true
		if _, ok := e.Vars[name]; !ok {
			c.Add(name, e.show(e.readValue(name)), "(removed)")
		}
	}
	for _, k := range e.names() {
		want := e.Vars[k]
		if !present[k] {
			c.Add(k, "", e.show(want))
			continue
		}
		p := filepath.Join(e.Path, k)
		fi, have, err := resource.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			c.Add(k, typeName(fi), e.show(want))
			continue
		}
		old, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if string(old) != string(Encode(want)) {
			from, _ := readenv.Value(old)
			if e.Secret {
				c.Fields = append(c.Fields, resource.Field{Name: k, From: "(sensitive)", To: "(sensitive value changed)"})
			} else if from != want {
				c.Add(k, from, want)
			} else {
				c.Add(k, fmt.Sprintf("%q", old), fmt.Sprintf("%q", Encode(want)))
			}
		}
		n := len(c.Fields)
		resource.CheckMeta(c, have, fileMeta)
		prefix(c, n, k+" ")
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

func (e *Envdir) readValue(name string) string {
	b, err := os.ReadFile(filepath.Join(e.Path, name))
	if err != nil {
		return "(unreadable)"
	}
	v, unset := readenv.Value(b)
	if unset {
		return "(unset)"
	}
	return v
}

func prefix(c *resource.Change, from int, p string) {
	for i := from; i < len(c.Fields); i++ {
		c.Fields[i].Name = p + c.Fields[i].Name
	}
}

func (e *Envdir) names() []string {
	var out []string
	for k := range e.Vars {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Apply implements resource.Resource. Each file is replaced atomically;
// the directory's mode is set first when it becomes stricter, last when
// it becomes looser, so that a secret is never in a readable directory.
func (e *Envdir) Apply(ctx context.Context, c *resource.Change) error {
	dirMeta, fileMeta := e.metas()
	if err := os.MkdirAll(filepath.Dir(e.Path), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(e.Path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if e.Secret {
		if err := resource.SetMeta(e.Path, dirMeta); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(e.Path)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		name := ent.Name()
		if _, ok := e.Vars[name]; ok || strings.HasPrefix(name, ".") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(e.Path, name)); err != nil {
			return err
		}
	}
	for _, k := range e.names() {
		p := filepath.Join(e.Path, k)
		want := Encode(e.Vars[k])
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode().IsRegular() {
			if old, err := os.ReadFile(p); err == nil && string(old) == string(want) {
				if err := resource.SetMeta(p, fileMeta); err != nil {
					return err
				}
				continue
			}
		} else if err == nil {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
		if err := resource.WriteFile(p, want, fileMeta); err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
	}
	if err := resource.SetMeta(e.Path, dirMeta); err != nil {
		return err
	}
	return resource.SyncDir(e.Path)
}

func typeName(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsDir():
		return "(directory)"
	case m&fs.ModeSymlink != 0:
		return "(symlink)"
	default:
		return "(special file)"
	}
}
