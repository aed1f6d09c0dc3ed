// Resource kinds of one family: editing part of a file tend does not own
// (Ansible's blockinfile and lineinfile). Each kind has its struct, Kind,
// defaults and check together; the one list of kinds is kinds() in
// resource.go.

package spec

import (
	"regexp"
	"strings"
)

// The kinds of this family.
const (
	KindBlock Kind = "block"
	KindLine  Kind = "line"
)

// Block is a block of lines that tend keeps in a file it does not own,
// between two marker lines naming it, leaving the rest of the file as it
// is. Name: a label, in the markers. A block that leaves the spec is
// taken out of the file, markers and all.
type Block struct {
	Path    string `yaml:"path" json:"path"`       // the file, absolute
	Content string `yaml:"content" json:"content"` // the lines between the markers (a template)
	// Marker is the marker line, with {mark} for BEGIN or END; default
	// "# {mark} tend block NAME". Use the file's comment syntax.
	Marker string `yaml:"marker" json:"marker"`
	// InsertAfter / InsertBefore: where a new block goes, a regular
	// expression matching a line (the last match for after, the first for
	// before); default the end of the file. A block already there stays
	// where it is.
	InsertAfter  string `yaml:"insert_after" json:"insert_after"`
	InsertBefore string `yaml:"insert_before" json:"insert_before"`
	Create       bool   `yaml:"create" json:"create"` // create the file (mode 0644, root) when it is missing; else a missing file is an error
}

func (*Block) Kind() Kind { return KindBlock }

func (s *Block) defaults() {}

var editNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (s *Block) check(c *checker) {
	c.name(editNameRE, "letters, digits, '.', '_' and '-' (at most 64): it names the block in its markers")
	c.editPath(s.Path)
	if s.Marker != "" && c.lit(s.Marker) {
		if !strings.Contains(s.Marker, "{mark}") {
			c.errf("marker", "marker %q has no {mark}: the BEGIN and END lines must differ", s.Marker)
		}
		c.line("marker", s.Marker)
	}
	c.regexp("insert_after", s.InsertAfter)
	c.regexp("insert_before", s.InsertBefore)
	if s.InsertAfter != "" && s.InsertBefore != "" {
		c.errf("insert_before", "insert_after and insert_before are both given: choose one")
	}
}

// Markers returns a block's BEGIN and END lines.
func (s *Block) Markers(name string) (begin, end string) {
	m := s.Marker
	if m == "" {
		m = "# {mark} tend block " + name
	}
	return strings.ReplaceAll(m, "{mark}", "BEGIN"), strings.ReplaceAll(m, "{mark}", "END")
}

// Line is one line that tend keeps in a file it does not own: the lines
// matching Match are that setting; the last of them becomes Text and the
// others go; with none, Text is added (after InsertAfter's last match, or
// at the end). With state: absent every matching line is removed. A line
// that leaves the spec is left in the file as it is: tend does not know
// what the line said before it (write state: absent to remove it).
// Name: a label.
type Line struct {
	Path        string `yaml:"path" json:"path"`
	Match       string `yaml:"match" json:"match"` // regular expression, e.g. ^#?PermitRootLogin\s
	Text        string `yaml:"text" json:"text"`   // the line, without its newline
	InsertAfter string `yaml:"insert_after" json:"insert_after"`
	Create      bool   `yaml:"create" json:"create"`
}

func (*Line) Kind() Kind { return KindLine }

func (s *Line) defaults() {}

func (s *Line) check(c *checker) {
	c.name(editNameRE, "letters, digits, '.', '_' and '-' (at most 64)")
	c.editPath(s.Path)
	if !c.has("match") && !c.decodeErr {
		c.errf("", "match is required (also with state: absent): the regular expression of the lines this line is")
	}
	c.regexp("match", s.Match)
	if !c.absent() {
		if c.required("text", s.Text) {
			c.line("text", s.Text)
		}
		c.regexp("insert_after", s.InsertAfter)
		if s.Match != "" && s.Text != "" && c.lit(s.Match) && c.lit(s.Text) {
			if re, err := regexp.Compile(s.Match); err == nil && !re.MatchString(s.Text) {
				c.errf("text", "text %q does not match match %q: the next apply would add it again", s.Text, s.Match)
			}
		}
	}
}

// editPath checks the file an edit applies to: required even with state:
// absent, since removing a block or line means editing that file.
func (c *checker) editPath(p string) {
	if !c.has("path") && !c.decodeErr {
		c.errf("", "path is required (also with state: absent): the file to edit")
		return
	}
	c.absPath("path", p)
}

// editConflicts reports a block or line in a file that a file resource
// of the same host owns: the file resource would overwrite the edit at
// every apply, and the edit change the file back.
func (c *compiler) editConflicts(rs []*Resource) {
	owned := map[string]*Resource{}
	for _, r := range rs {
		if r.Kind == KindFile && r.State != StateAbsent {
			owned[r.Name] = r
		}
	}
	for _, r := range rs {
		var p string
		switch s := r.Spec.(type) {
		case *Block:
			p = s.Path
		case *Line:
			p = s.Path
		default:
			continue
		}
		if f := owned[p]; f != nil {
			c.errs.add(r.fieldPos("path"), "%s %s: %s is the file resource at %s: tend owns that whole file; put this %s in its content instead (%s)", r.Kind, r.Name, p, f.Pos, r.Kind, c.where())
		}
	}
}

// regexp checks a field holding a regular expression (Go's RE2 syntax).
func (c *checker) regexp(field, v string) {
	if v == "" || !c.lit(v) {
		return
	}
	if _, err := regexp.Compile(v); err != nil {
		c.errf(field, "%s %q is not a regular expression (RE2 syntax): %v", field, v, err)
	}
}
