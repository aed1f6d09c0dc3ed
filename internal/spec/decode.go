package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"tend/internal/hint"
)

// source is one YAML file being decoded: its name relative to the
// repository, its lines (to place template errors inside block scalars) and
// the list its problems go to.
type source struct {
	name  string
	lines []string
	errs  *ErrorList
}

func (f *source) pos(n *yaml.Node) Pos { return Pos{File: f.name, Line: n.Line, Col: n.Column} }

func (f *source) errf(n *yaml.Node, format string, a ...any) { f.errs.add(f.pos(n), format, a...) }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse parses data and returns its top-level mapping, or nil after
// recording why it cannot. An empty file is an empty mapping.
func (f *source) parse(data []byte) *yaml.Node {
	f.lines = strings.Split(string(data), "\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		p := Pos{File: f.name}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		f.errs.add(p, "invalid YAML: %s", msg)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Line: 1, Column: 1}
	}
	root := doc.Content[0]
	if !f.plain(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		f.errf(root, "expected a mapping of fields at the top of the file, got %s", describe(root))
		return nil
	}
	return root
}

// plain refuses YAML features tend does not support inside n: anchors,
// aliases and merge keys (roles and variables are the way to share), and
// custom tags. It reports each once and returns whether n is clean.
func (f *source) plain(n *yaml.Node) bool {
	ok := true
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		switch {
		case depth > 100:
			f.errf(n, "nesting too deep")
			ok = false
			return
		case n.Kind == yaml.AliasNode:
			f.errf(n, "YAML aliases are not supported: use variables or roles to share values")
			ok = false
			return
		case n.Anchor != "":
			f.errf(n, "YAML anchors are not supported: use variables or roles to share values")
			ok = false
		case n.Tag != "" && n.Tag != "!" && !strings.HasPrefix(n.Tag, "!!"):
			f.errf(n, "YAML tag %s is not supported", n.Tag)
			ok = false
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge":
			f.errf(n, "YAML merge keys are not supported: use variables or roles to share values")
			ok = false
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return ok
}

// describe names the kind of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		}
		return n.Value
	}
	return "an unexpected node"
}

// field is one key: value pair of a mapping.
type field struct {
	key  string
	k, v *yaml.Node
}

// fields returns the pairs of mapping n (what names it, for errors), refusing
// non-string and duplicate keys. A null node is an empty mapping.
func (f *source) fields(n *yaml.Node, what string) []field {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.errf(n, "%s: expected a mapping, got %s", what, describe(n))
		return nil
	}
	var out []field
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int") {
			f.errf(k, "%s: keys must be names, got %s", what, describe(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			f.errf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, field{key: k.Value, k: k, v: v})
	}
	return out
}

// unknown reports a key that is not one of the known ones.
func (f *source) unknown(fd field, what string, known []string) {
	if near := nearest(fd.key, known); near != "" {
		f.errf(fd.k, "%s: unknown field %q: did you mean %q? (known fields: %s)", what, fd.key, near, strings.Join(known, ", "))
		return
	}
	f.errf(fd.k, "%s: unknown field %q (known fields: %s)", what, fd.key, strings.Join(known, ", "))
}

// nearest returns the one word of known closest to s, when it is close
// enough to be a typo (at most 2 edits, and fewer than half of s); "" if
// none or several are.
func nearest(s string, known []string) string {
	best, bestD, ties := "", 3, 0
	for _, k := range known {
		d := hint.Distance(strings.ToLower(s), k)
		switch {
		case d < bestD:
			best, bestD, ties = k, d, 1
		case d == bestD:
			ties++
		}
	}
	if ties != 1 || bestD*2 >= len(s) {
		return ""
	}
	return best
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// str decodes a scalar as a string: its text as written, so that 0644 stays
// "0644" and 22 becomes "22".
func (f *source) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		f.errf(n, "%s: expected a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (f *source) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	f.errf(n, "%s: expected true or false, got %s", what, describe(n))
	return false, false
}

func (f *source) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if i, err := strconv.Atoi(n.Value); err == nil {
			return i, true
		}
	}
	f.errf(n, "%s: expected a whole number, got %s", what, describe(n))
	return 0, false
}

// strList decodes a list of strings, returning each with its node.
func (f *source) strList(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		f.errf(n, "%s: expected a list, got %s", what, describe(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, c := range n.Content {
		if s, ok := f.str(c, what); ok {
			out = append(out, s)
			nodes = append(nodes, c)
		}
	}
	return out, nodes
}

// Name syntax. Names become file names, unit names and map keys; keeping
// them to one plain alphabet avoids surprises everywhere.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	varRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// reservedVars are names the template data uses for itself.
var reservedVars = []string{"env", "host", "tend"}

func (f *source) checkName(n *yaml.Node, what, name string) bool {
	if !nameRE.MatchString(name) {
		f.errf(n, "invalid %s name %q: use lowercase letters, digits, '.', '-' and '_', starting and ending with a letter or digit", what, name)
		return false
	}
	return true
}

// Var is one variable's value and where it was set.
type Var struct {
	Value any
	Pos   Pos
}

// Vars maps variable names to values.
type Vars map[string]Var

// vars decodes a vars mapping. Values keep their YAML types (strings,
// numbers, booleans, lists, mappings); null is refused because a template
// would print it as "<no value>".
func (f *source) vars(n *yaml.Node, what string) Vars {
	out := Vars{}
	for _, fd := range f.fields(n, what) {
		switch {
		case !varRE.MatchString(fd.key):
			f.errf(fd.k, "%s: invalid variable name %q: use letters, digits and '_', not starting with a digit (templates refer to it as .name)", what, fd.key)
			continue
		case slices.Contains(reservedVars, fd.key):
			f.errf(fd.k, "%s: %q is reserved for template data and cannot be a variable", what, fd.key)
			continue
		case strings.HasPrefix(fd.key, "vault_"):
			f.errf(fd.k, "%s: %q: names starting with vault_ are secrets; map the secret to a plain name under secrets: in the environment file", what, fd.key)
			continue
		}
		if null := findNull(fd.v); null != nil {
			f.errf(null, "%s: variable %q: null is not a value; write \"\" for an empty string", what, fd.key)
			continue
		}
		var v any
		if err := fd.v.Decode(&v); err != nil {
			f.errf(fd.v, "%s: variable %q: %v", what, fd.key, err)
			continue
		}
		out[fd.key] = Var{Value: v, Pos: f.pos(fd.v)}
	}
	return out
}

func findNull(n *yaml.Node) *yaml.Node {
	if isNull(n) {
		return n
	}
	for _, c := range n.Content {
		if x := findNull(c); x != nil {
			return x
		}
	}
	return nil
}
