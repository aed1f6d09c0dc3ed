// Resource kinds of one family: paths on the host: files, directories,
// symlinks and paths that must not exist.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

// The kinds of this family.
const (
	KindFile      Kind = "file"
	KindDirectory Kind = "directory"
	KindSymlink   Kind = "symlink"
	KindAbsent    Kind = "absent"
)

// File is a regular file with exactly one of Content (inline text),
// Template (a file under the role's templates/, rendered) or Source (a file
// under the role's files/, copied as is). After Compile, Content holds the
// file's full contents whichever was used. Name: absolute path.
type File struct {
	Content  string `yaml:"content" json:"content"`
	Template string `yaml:"template" json:"template"`
	Source   string `yaml:"source" json:"source"`
	Mode     string `yaml:"mode" json:"mode"`   // octal, default "0644"
	Owner    string `yaml:"owner" json:"owner"` // default root
	Group    string `yaml:"group" json:"group"` // default root
}

func (*File) Kind() Kind { return KindFile }

func (s *File) fileRefs() []fileRef {
	return []fileRef{
		{field: "template", path: s.Template, dir: "templates", fills: "content", into: &s.Content},
		{field: "source", path: s.Source, dir: "files", fills: "content", into: &s.Content},
	}
}

func (s *File) defaults() { or(&s.Mode, "0644"); or(&s.Owner, "root"); or(&s.Group, "root") }

func (s *File) check(c *checker) {
	c.absPath("", c.r.Name)
	n := 0
	for _, f := range []string{"content", "template", "source"} {
		if c.has(f) {
			n++
		}
	}
	if n != 1 && !c.lax() {
		c.errf("", "exactly one of content, template or source is required")
	}
	c.relPath("template", s.Template)
	c.relPath("source", s.Source)
	c.mode(s.Mode)
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}

// Directory is a directory. Name: absolute path.
type Directory struct {
	Mode  string `yaml:"mode" json:"mode"` // default "0755"
	Owner string `yaml:"owner" json:"owner"`
	Group string `yaml:"group" json:"group"`
}

func (*Directory) Kind() Kind { return KindDirectory }

// holdsData: removing a directory may remove what it holds (delete_data).
func (*Directory) holdsData() {}

func (s *Directory) defaults() { or(&s.Mode, "0755"); or(&s.Owner, "root"); or(&s.Group, "root") }

func (s *Directory) check(c *checker) {
	c.absPath("", c.r.Name)
	c.mode(s.Mode)
	c.account("owner", s.Owner)
	c.account("group", s.Group)
}

// Symlink is a symbolic link to Target. Name: absolute path of the link.
type Symlink struct {
	Target string `yaml:"target" json:"target"`
}

func (*Symlink) Kind() Kind { return KindSymlink }

func (s *Symlink) defaults() {}

func (s *Symlink) check(c *checker) {
	c.absPath("", c.r.Name)
	c.required("target", s.Target)
}

// Absent is a path that must not exist (file, link or directory tree).
// Name: absolute path.
type Absent struct{}

func (*Absent) Kind() Kind { return KindAbsent }

func (s *Absent) defaults() {}

func (s *Absent) check(c *checker) { c.absPath("", c.r.Name) }
