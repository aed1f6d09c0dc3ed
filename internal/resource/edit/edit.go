// Package edit implements the resources that edit part of a file tend
// does not own: block (lines kept between two marker lines) and line (one
// line matched by a regular expression), Ansible's blockinfile and
// lineinfile. The rest of the file, its owner, group and mode stay as they
// are; a change is written to a temporary file and renamed, never in
// place, and the plan shows it as a diff of the whole file.
package edit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"tend/internal/resource"
	"tend/internal/spec"
)

// file is the file being edited: its text, and how to write it back.
type file struct {
	path   string
	text   string
	meta   resource.Meta
	exists bool
}

// read reads path; a missing file is empty when create, else an error.
func read(path string, create bool) (*file, error) {
	fi, m, err := resource.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("%s does not exist: tend edits part of a file that something else (a package) put there; set create: true to make it", path)
		}
		return &file{path: path, meta: resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}}, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &file{path: path, text: string(b), meta: m, exists: true}, nil
}

// change is what writing text instead of f's would change, or nil.
func (f *file) change(text string) *resource.Change {
	if f.exists && text == f.text {
		return nil
	}
	c := &resource.Change{Action: resource.Update, Diff: resource.Diff(f.path, f.text, text)}
	if !f.exists {
		c.Action = resource.Create
	}
	c.Add("content", fmt.Sprintf("%d bytes", len(f.text)), fmt.Sprintf("%d bytes", len(text)))
	if !c.Has("content") {
		c.Fields = append(c.Fields, resource.Field{Name: "content", From: "changed", To: "changed"})
	}
	return c
}

func (f *file) write(text string) error {
	return resource.WriteFile(f.path, []byte(text), f.meta)
}

// lines splits text into lines without their newlines; a last line
// without a newline is a line.
func lines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

func join(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// Block is a block resource.
type Block struct {
	Name string
	S    *spec.Block
}

// want returns f's text with the block in place.
func (b *Block) want(text string) (string, error) {
	begin, end := b.S.Markers(b.Name)
	ls := lines(text)
	body := lines(b.S.Content)
	block := append(append([]string{begin}, body...), end)
	i, j := span(ls, begin, end)
	if i >= 0 {
		return join(append(append(append([]string{}, ls[:i]...), block...), ls[j+1:]...)), nil
	}
	at := len(ls)
	switch {
	case b.S.InsertAfter != "":
		re, err := regexp.Compile(b.S.InsertAfter)
		if err != nil {
			return "", err
		}
		for k, l := range ls {
			if re.MatchString(l) {
				at = k + 1
			}
		}
	case b.S.InsertBefore != "":
		re, err := regexp.Compile(b.S.InsertBefore)
		if err != nil {
			return "", err
		}
		for k, l := range ls {
			if re.MatchString(l) {
				at = k
				break
			}
		}
	}
	return join(append(append(append([]string{}, ls[:at]...), block...), ls[at:]...)), nil
}

// span returns the indexes of the block's BEGIN and END lines, -1 when
// the block is not there. A BEGIN without its END (a stray or half-edited
// marker) is not taken for a block: the block is an END and the nearest
// BEGIN before it, so nothing outside the markers is swallowed.
func span(ls []string, begin, end string) (int, int) {
	i := -1
	for j, l := range ls {
		switch l {
		case begin:
			i = j
		case end:
			if i >= 0 {
				return i, j
			}
		}
	}
	return -1, -1
}

// Check implements resource.Resource.
func (b *Block) Check(ctx context.Context) (*resource.Change, error) {
	return check(b.S.Path, b.S.Create, b.want)
}

// Apply implements resource.Resource.
func (b *Block) Apply(ctx context.Context, _ *resource.Change) error {
	return apply(b.S.Path, b.S.Create, b.want)
}

// check is what editing path with want would change.
func check(path string, create bool, want func(string) (string, error)) (*resource.Change, error) {
	f, err := read(path, create)
	if err != nil {
		return nil, err
	}
	w, err := want(f.text)
	if err != nil {
		return nil, err
	}
	return f.change(w), nil
}

// apply edits path with want, reading it again (it may have changed
// since the check).
func apply(path string, create bool, want func(string) (string, error)) error {
	f, err := read(path, create)
	if err != nil {
		return err
	}
	w, err := want(f.text)
	if err != nil {
		return err
	}
	return f.write(w)
}

// BlockRemoval takes a block out of its file, markers and all: the block
// is tend's by its markers, whoever asks (state: absent, or the block left
// the spec). A missing file has nothing to remove.
type BlockRemoval struct{ Block }

// cut returns text without the block (unchanged when it has none).
func (r *BlockRemoval) cut(text string) (string, error) {
	begin, end := r.S.Markers(r.Name)
	ls := lines(text)
	i, j := span(ls, begin, end)
	if i < 0 {
		return text, nil
	}
	return join(append(append([]string{}, ls[:i]...), ls[j+1:]...)), nil
}

// CheckRemove implements resource.Remover.
func (r *BlockRemoval) CheckRemove(ctx context.Context, _ resource.Removal) (*resource.Change, error) {
	return checkCut(r.S.Path, r.cut)
}

// Remove implements resource.Remover.
func (r *BlockRemoval) Remove(ctx context.Context, _ *resource.Change, _ resource.Removal) error {
	return applyCut(r.S.Path, r.cut)
}

// checkCut is what taking part of path out with cut would change; a
// missing file has nothing to take out.
func checkCut(path string, cut func(string) (string, error)) (*resource.Change, error) {
	f, err := read(path, true)
	if err != nil || !f.exists {
		return nil, err
	}
	w, err := cut(f.text)
	if err != nil {
		return nil, err
	}
	c := f.change(w)
	if c != nil {
		c.Action = resource.Delete
	}
	return c, nil
}

// applyCut takes part of path out with cut.
func applyCut(path string, cut func(string) (string, error)) error {
	f, err := read(path, true)
	if err != nil || !f.exists {
		return err
	}
	w, err := cut(f.text)
	if err != nil {
		return err
	}
	return f.write(w)
}

// Line is a line resource.
type Line struct {
	Name string
	S    *spec.Line
}

// want returns text with the line in place: the last matching line is
// the line, other matching lines go; with none, it is added.
func (l *Line) want(text string) (string, error) {
	re, err := regexp.Compile(l.S.Match)
	if err != nil {
		return "", err
	}
	ls := lines(text)
	last := -1
	for i, x := range ls {
		if re.MatchString(x) {
			last = i
		}
	}
	if last < 0 {
		at := len(ls)
		if l.S.InsertAfter != "" {
			after, err := regexp.Compile(l.S.InsertAfter)
			if err != nil {
				return "", err
			}
			for i, x := range ls {
				if after.MatchString(x) {
					at = i + 1
				}
			}
		}
		return join(append(append(append([]string{}, ls[:at]...), l.S.Text), ls[at:]...)), nil
	}
	var out []string
	for i, x := range ls {
		switch {
		case i == last:
			out = append(out, l.S.Text)
		case re.MatchString(x):
			// another line of the same setting: it would contradict this one
		default:
			out = append(out, x)
		}
	}
	return join(out), nil
}

// Check implements resource.Resource.
func (l *Line) Check(ctx context.Context) (*resource.Change, error) {
	return check(l.S.Path, l.S.Create, l.want)
}

// Apply implements resource.Resource.
func (l *Line) Apply(ctx context.Context, _ *resource.Change) error {
	return apply(l.S.Path, l.S.Create, l.want)
}

// LineRemoval removes every line matching a line's match, when the spec
// says state: absent. A line that only left the spec stays in the file:
// tend does not know what the file said before it.
type LineRemoval struct{ Line }

// cut returns text without the lines matching match.
func (r *LineRemoval) cut(text string) (string, error) {
	re, err := regexp.Compile(r.S.Match)
	if err != nil {
		return "", err
	}
	var out []string
	for _, x := range lines(text) {
		if !re.MatchString(x) {
			out = append(out, x)
		}
	}
	return join(out), nil
}

// CheckRemove implements resource.Remover.
func (r *LineRemoval) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	if !how.Explicit {
		return resource.Kept("a line left the spec: the file keeps it (tend does not know what it said before); write state: absent to remove it"), nil
	}
	return checkCut(r.S.Path, r.cut)
}

// Remove implements resource.Remover.
func (r *LineRemoval) Remove(ctx context.Context, _ *resource.Change, how resource.Removal) error {
	return applyCut(r.S.Path, r.cut)
}
