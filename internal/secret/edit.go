package secret

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"tend/internal/hint"
)

// EditOptions say where Edit puts the decrypted view and how it is edited.
type EditOptions struct {
	RAMDir    string // a RAM file system for the view, normally /dev/shm
	AllowDisk bool   // without RAMDir, put the view in the temporary directory
	// Editor edits the view at path in place and returns an error when the
	// user's editor failed; nothing is saved then.
	Editor func(path string) error
}

// EditResult is what an Edit changed.
type EditResult struct {
	Changes
	EmptyView bool // the user left the view without any entry: nothing changed
}

// Edit decrypts every value of f (checked like Decrypt) into a YAML view in
// a fresh 0700 directory under o.RAMDir, with mode 0600, has o.Editor edit it,
// removes the directory (also on error), and saves the added and changed
// values; the other lines stay byte-identical. Nothing is saved when the
// editor fails, the view has an error, the view is left empty, or f's file
// changed meanwhile.
func Edit(f *File, ids []age.Identity, o EditOptions) (EditResult, error) {
	before, err := os.ReadFile(f.Path)
	if err != nil {
		return EditResult{}, err
	}
	old, err := f.Decrypt(ids)
	if err != nil {
		return EditResult{}, err
	}
	view, err := RenderView(f.Env, old)
	if err != nil {
		return EditResult{}, err
	}
	defer clear(view)
	base := o.RAMDir
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		if !o.AllowDisk {
			return EditResult{}, hint.Wrap(fmt.Errorf("%s does not exist: refusing to write decrypted secrets to disk", o.RAMDir),
				"use a machine with /dev/shm, 'tend secret set', or accept a view on disk with --allow-disk")
		}
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "tend-secret-")
	if err != nil {
		return EditResult{}, fmt.Errorf("create the edit view: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, f.Env+".yaml")
	if err := os.WriteFile(path, view, 0o600); err != nil {
		return EditResult{}, fmt.Errorf("create the edit view: %w", err)
	}
	if err := o.Editor(path); err != nil {
		return EditResult{}, err
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return EditResult{}, fmt.Errorf("read the edited view: %w", err)
	}
	os.RemoveAll(dir)
	next, err := ParseView(edited)
	clear(edited)
	if err != nil {
		return EditResult{}, hint.Wrap(fmt.Errorf("edited secrets of %s: %w", f.Env, err),
			fmt.Sprintf("%s is unchanged; run 'tend secret edit %s' again", f.Path, f.Env))
	}
	if len(next) == 0 {
		return EditResult{EmptyView: true}, nil
	}
	changes, err := f.Update(old, next)
	if err != nil || changes.Empty() {
		return EditResult{Changes: changes}, err
	}
	now, err := os.ReadFile(f.Path)
	if err != nil || !bytes.Equal(now, before) {
		return EditResult{}, hint.Wrap(fmt.Errorf("%s changed while you were editing; your edits were not saved", f.Path),
			fmt.Sprintf("run 'tend secret edit %s' again", f.Env))
	}
	return EditResult{Changes: changes}, f.Save()
}

// String says what changed: "added vault_d; changed vault_b; removed vault_c".
func (c Changes) String() string {
	var parts []string
	for _, g := range []struct {
		verb  string
		names []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}} {
		if len(g.names) > 0 {
			parts = append(parts, g.verb+" "+strings.Join(g.names, ", "))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, "; ")
}
