// Package sysctl implements the sysctl resource: a kernel parameter set now
// (under /proc/sys) and persisted for the next boot in
// /etc/sysctl.d/60-tend-NAME.conf, which notes the value before tend so
// that Removal can put it back. It also gives the swap resource the same
// helpers for vm.swappiness.
package sysctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Roots are where the kernel parameters are, and where the persisted
// files are; tests point them elsewhere.
type Roots struct {
	Proc string // default /proc/sys
	Etc  string // default /etc: sysctl.d and sysctl.conf are read below it
	// Dirs are the sysctl.d directories systemd-sysctl reads, in order of
	// precedence (a file name in an earlier one hides the same name in a
	// later one). Default: /etc/sysctl.d, /run/sysctl.d,
	// /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d.
	Dirs []string
}

// DefaultRoots are the real locations.
var DefaultRoots = Roots{
	Proc: "/proc/sys",
	Etc:  "/etc",
	Dirs: []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"},
}

// Param is one kernel parameter with its desired value.
type Param struct {
	Name  string // dotted form, e.g. net.ipv4.ip_forward
	Value string // whitespace-normalised
	Roots Roots
}

// New makes a sysctl resource from its spec.
func New(name string, s *spec.Sysctl) (*Param, error) {
	v := Normalize(s.Value)
	if v == "" {
		return nil, fmt.Errorf("sysctl %s: value is empty", name)
	}
	return &Param{Name: Dotted(name), Value: v, Roots: DefaultRoots}, nil
}

// Normalize makes values comparable: the kernel prints several fields
// separated by tabs (net.ipv4.ip_local_port_range), users write spaces.
func Normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

// Dotted returns a parameter name in its dotted form. Names may also be
// written with '/' as separator (net/ipv4/conf/eth0.1/forwarding), in which
// case dots are part of a component; as in sysctl(8), the two swap.
func Dotted(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return swapSeparators(name)
}

func swapSeparators(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, name)
}

// procPattern returns the /proc/sys path (a glob when the name has '*').
func (r Roots) procPattern(name string) string {
	return filepath.Join(r.Proc, swapSeparators(Dotted(name)))
}

// ConfPath is the file that persists parameter name.
func (r Roots) ConfPath(name string) string {
	return filepath.Join(r.Etc, "sysctl.d", ConfName(name))
}

// ConfName is the base name of the file that persists parameter name.
func ConfName(name string) string {
	return "60-tend-" + strings.ReplaceAll(strings.ReplaceAll(Dotted(name), "/", "_"), "*", "_") + ".conf"
}

// Live is the current value of a parameter in the kernel, and the paths
// under /proc/sys it was read from (several for a glob).
type Live struct {
	Value    string // "" when the matches disagree
	Paths    []string
	Values   []string // per path
	ReadOnly bool     // a path is on a read-only file system (a container)
}

// ReadLive reads parameter name from /proc/sys. A parameter that does not
// exist is an error.
func (r Roots) ReadLive(name string) (Live, error) {
	pattern := r.procPattern(name)
	paths := []string{pattern}
	if strings.Contains(pattern, "*") {
		var err error
		if paths, err = filepath.Glob(pattern); err != nil {
			return Live{}, fmt.Errorf("kernel parameter %s: %w", name, err)
		}
	}
	var l Live
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Live{}, fmt.Errorf("kernel parameter %s: read %s: %w", name, p, err)
		}
		l.Paths = append(l.Paths, p)
		l.Values = append(l.Values, Normalize(string(b)))
		if err := syscall.Access(p, 2); errors.Is(err, syscall.EROFS) {
			l.ReadOnly = true
		}
	}
	if len(l.Paths) == 0 {
		return Live{}, fmt.Errorf("kernel parameter %s does not exist on this host (no %s): check the name (sysctl -a lists them), or load the kernel module that provides it first", name, pattern)
	}
	l.Value = l.Values[0]
	for _, v := range l.Values[1:] {
		if v != l.Value {
			l.Value = ""
		}
	}
	return l, nil
}

// Show is the current value for a change: the value, or the differing
// values of a glob's matches.
func (l Live) Show() string {
	if l.Value != "" || len(l.Values) == 0 {
		return l.Value
	}
	return "mixed: " + strings.Join(slices.Compact(slices.Sorted(slices.Values(l.Values))), ", ")
}

// WriteLive sets parameter name in the kernel, in every path of l whose
// value differs, and checks that the kernel kept the value as written.
func (r Roots) WriteLive(name, value string, l Live) error {
	for i, p := range l.Paths {
		if l.Values[i] == value {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_, err = f.WriteString(value)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		switch {
		case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
			return fmt.Errorf("set kernel parameter %s: %w: this host does not let it be changed (a container may change only some net.* parameters): set it on the machine that runs the container, or remove this resource", name, err)
		case errors.Is(err, syscall.EINVAL):
			return fmt.Errorf("set kernel parameter %s: the kernel refused the value %q: %w", name, value, err)
		case err != nil:
			return fmt.Errorf("set kernel parameter %s: %s: %w", name, p, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("kernel parameter %s: read %s: %w", name, p, err)
		}
		if got := Normalize(string(b)); got != value {
			return fmt.Errorf("kernel parameter %s: set to %q, the kernel shows %q: write the value as the kernel shows it, so that tend can tell it is set", name, value, got)
		}
	}
	return nil
}

// Persisted is what the persisted file of parameter name holds.
type Persisted struct {
	Exists  bool
	Value   string // the value it sets, "" when it sets none
	Before  string // the value the kernel had before tend set it, "" when unknown
	Content string
}

// beforeTag starts the comment line of a persisted file that keeps the
// value the kernel had before tend first set it, so that a removal can
// put it back (the kernel's default is not known once changed).
const beforeTag = "# before tend: "

// ReadPersisted reads the persisted file of parameter name.
func (r Roots) ReadPersisted(name string) (Persisted, error) {
	b, err := os.ReadFile(r.ConfPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return Persisted{}, nil
	}
	if err != nil {
		return Persisted{}, err
	}
	p := Persisted{Exists: true, Content: string(b)}
	for _, line := range strings.Split(p.Content, "\n") {
		if v, ok := strings.CutPrefix(line, beforeTag); ok {
			p.Before = Normalize(v)
		}
	}
	for _, a := range parseConf(p.Content) {
		if a.key == Dotted(name) {
			p.Value = a.value
		}
	}
	return p, nil
}

// ConfContent is the content of the persisted file of parameter name,
// noting the value before tend unless before is "".
func ConfContent(name, value, before string) string {
	c := Dotted(name) + " = " + value + "\n"
	if before != "" {
		c = beforeTag + before + "\n" + c
	}
	return c
}

// WritePersisted writes the persisted file of parameter name atomically.
// A file that exists keeps the value before tend it notes (or notes none);
// a new one notes before, the kernel's value when tend first sets it.
func (r Roots) WritePersisted(name, value, before string) error {
	dir := filepath.Join(r.Etc, "sysctl.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if p, err := r.ReadPersisted(name); err != nil {
		return err
	} else if p.Exists {
		before = p.Before
	}
	return resource.WriteFile(r.ConfPath(name), []byte(ConfContent(name, value, before)), resource.Meta{Mode: 0o644, Owner: "root", Group: "root"})
}

// CheckPersisted adds to c the difference between the persisted file of
// name and value, under field.
func (r Roots) CheckPersisted(c *resource.Change, field, name, value string) error {
	p, err := r.ReadPersisted(name)
	if err != nil {
		return err
	}
	if p.Content == ConfContent(name, value, p.Before) {
		return nil
	}
	from := p.Value
	if p.Exists && from == value {
		from = value + " (file edited)"
	}
	c.Add(field, from, value)
	return nil
}

// Overridden returns where a file that systemd-sysctl reads after the
// persisted file sets parameter name to another value: at boot, that one
// would win. It returns "" when none does.
func (r Roots) Overridden(name, value string) (string, error) {
	ours := ConfName(name)
	seen, names, err := r.confFiles()
	if err != nil {
		return "", err
	}
	key := Dotted(name)
	for _, n := range names {
		if n <= ours {
			continue
		}
		b, err := os.ReadFile(seen[n])
		if err != nil {
			continue // a dangling link, as systemd-sysctl would skip it
		}
		for _, a := range parseConf(string(b)) {
			if a.key == key && a.value != value {
				return fmt.Sprintf("%s:%d sets %s = %s", seen[n], a.line, key, a.value), nil
			}
		}
	}
	return "", nil
}

// confFiles returns the files systemd-sysctl reads, by base name (the
// first directory of Dirs that has a name wins), and their names in the
// order it reads them.
func (r Roots) confFiles() (map[string]string, []string, error) {
	seen := map[string]string{} // base name -> path, the first directory wins
	for _, d := range r.Dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
				continue
			}
			if _, ok := seen[e.Name()]; !ok {
				seen[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := slices.Sorted(maps.Keys(seen))
	return seen, names, nil
}

// Configured returns the value the configuration but the persisted file of
// parameter name sets it to at boot (what sysctl --system gives without
// that file), and where; "" when no file sets it.
func (r Roots) Configured(name string) (value, where string, err error) {
	ours := ConfName(name)
	seen, names, err := r.confFiles()
	if err != nil {
		return "", "", err
	}
	key := Dotted(name)
	for _, n := range names {
		if n == ours {
			continue
		}
		b, err := os.ReadFile(seen[n])
		if err != nil {
			continue
		}
		for _, a := range parseConf(string(b)) {
			if a.key == key {
				value, where = a.value, fmt.Sprintf("%s:%d", seen[n], a.line)
			}
		}
	}
	return value, where, nil
}

type assignment struct {
	key, value string
	line       int
}

// parseConf parses a sysctl.d file: "key = value" lines, comments with '#'
// or ';', a leading '-' meaning "ignore errors".
func parseConf(s string) []assignment {
	var out []assignment
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		out = append(out, assignment{key: Dotted(k), value: Normalize(v), line: i + 1})
	}
	return out
}

// Check implements resource.Resource.
func (p *Param) Check(ctx context.Context) (*resource.Change, error) {
	live, err := p.Roots.ReadLive(p.Name)
	if err != nil {
		return nil, err
	}
	if where, err := p.Roots.Overridden(p.Name, p.Value); err != nil {
		return nil, err
	} else if where != "" {
		return nil, fmt.Errorf("kernel parameter %s: %s, which is read after %s at boot and would win: remove that line, or set the same value there", p.Name, where, p.Roots.ConfPath(p.Name))
	}
	c := &resource.Change{Action: resource.Update}
	if live.Value != p.Value {
		if live.ReadOnly {
			return nil, fmt.Errorf("kernel parameter %s is %q, not %q, and read-only on this host (%s is on a read-only file system; a container may change only some net.* parameters): set it on the machine that runs the container, or remove this resource", p.Name, live.Show(), p.Value, live.Paths[0])
		}
		c.Add("value", live.Show(), p.Value)
	}
	pers, err := p.Roots.ReadPersisted(p.Name)
	if err != nil {
		return nil, err
	}
	if !pers.Exists {
		c.Action = resource.Create
	}
	if err := p.Roots.CheckPersisted(c, "persisted", p.Name, p.Value); err != nil {
		return nil, err
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource. The kernel gets the value first, so
// that a value it refuses is never persisted for the next boot.
func (p *Param) Apply(ctx context.Context, c *resource.Change) error {
	live, err := p.Roots.ReadLive(p.Name)
	if err != nil {
		return err
	}
	if c.Has("value") {
		if err := p.Roots.WriteLive(p.Name, p.Value, live); err != nil {
			return err
		}
	}
	if c.Has("persisted") {
		return p.Roots.WritePersisted(p.Name, p.Value, live.Value)
	}
	return nil
}
