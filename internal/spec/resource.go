package spec

import (
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kind names a kind of resource: the key that starts a resource in a role.
type Kind string

// kinds builds a new, empty spec of each kind. It is the one list of kinds.
func kinds() map[Kind]func() Spec {
	return map[Kind]func() Spec{
		KindFile:             func() Spec { return new(File) },
		KindDirectory:        func() Spec { return new(Directory) },
		KindSymlink:          func() Spec { return new(Symlink) },
		KindAbsent:           func() Spec { return new(Absent) },
		KindPackage:          func() Spec { return new(Package) },
		KindService:          func() Spec { return new(Service) },
		KindUser:             func() Spec { return new(User) },
		KindGroup:            func() Spec { return new(Group) },
		KindAuthorizedKeys:   func() Spec { return new(AuthorizedKeys) },
		KindSwap:             func() Spec { return new(Swap) },
		KindSysctl:           func() Spec { return new(Sysctl) },
		KindTimer:            func() Spec { return new(Timer) },
		KindCron:             func() Spec { return new(Cron) },
		KindCommand:          func() Spec { return new(Command) },
		KindGit:              func() Spec { return new(Git) },
		KindEnvdir:           func() Spec { return new(Envdir) },
		KindPostgresSettings: func() Spec { return new(PostgresSettings) },
		KindPostgresHBA:      func() Spec { return new(PostgresHBA) },
		KindPostgresRole:     func() Spec { return new(PostgresRole) },
		KindPostgresDatabase: func() Spec { return new(PostgresDatabase) },
		KindPostgresBackup:   func() Spec { return new(PostgresBackup) },
		KindFileBackup:       func() Spec { return new(FileBackup) },
		KindReplica:          func() Spec { return new(Replica) },
		KindFirewall:         func() Spec { return new(Firewall) },
		KindSite:             func() Spec { return new(Site) },
		KindCertificate:      func() Spec { return new(Certificate) },
		KindTunnel:           func() Spec { return new(Tunnel) },
		KindBlock:            func() Spec { return new(Block) },
		KindLine:             func() Spec { return new(Line) },
	}
}

// Kinds returns every resource kind, sorted.
func Kinds() []Kind {
	var out []Kind
	for k := range kinds() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Spec is the kind-specific part of a resource: one of the pointer types
// below (*File, *Directory...). Every string field is a template rendered
// per host; after Compile they hold the rendered text.
type Spec interface {
	// Kind returns the kind this spec is for.
	Kind() Kind
	// check validates the fields (and the resource's name); at load time,
	// fields still holding templates are skipped.
	check(c *checker)
	// defaults fills the fields left out with their documented defaults.
	defaults()
}

func or(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

// checker validates one resource, placing errors at the offending field.
type checker struct {
	r    *Resource
	errs *ErrorList
	load bool // at load time, fields still holding templates are not checked
	// decodeErr: a field of the resource failed to decode (an unknown or
	// misspelt key, a wrong type) and was reported.
	decodeErr bool
}

// lax reports whether required fields are not demanded: the resource is
// to be removed and needs only its name, or a field failed to decode, so
// that a misspelt key ("conten:") gives one error, not also the missing
// field it meant.
func (c *checker) lax() bool { return c.absent() || c.decodeErr }

// absent reports whether the resource says state: absent: then it needs
// only its name.
func (c *checker) absent() bool { return c.r.State == StateAbsent }

// lit reports whether v can be checked now: always after rendering, and at
// load time only when it holds no template action.
func (c *checker) lit(v string) bool { return !c.load || !strings.Contains(v, "{{") }

func (c *checker) has(field string) bool { _, ok := c.r.nodes[field]; return ok }

func (c *checker) errf(field, format string, a ...any) {
	name := c.r.Name
	if _, ctl := controlChar(name); ctl {
		name = strconv.Quote(name)
	}
	c.errs.add(c.r.fieldPos(field), "%s %s: "+format, append([]any{c.r.Kind, name}, a...)...)
}

// check runs the checks every resource takes, then its kind's.
func (c *checker) check() {
	if ch, ok := controlChar(c.r.Name); ok {
		c.errf("", "name holds the control character %q: names are one line of printable text", ch)
	}
	c.r.Spec.check(c)
}

// name checks the resource's name with re, described by what. A name
// with a control character was reported by check already.
func (c *checker) name(re *regexp.Regexp, what string) {
	if _, ctl := controlChar(c.r.Name); ctl {
		return
	}
	if c.r.Name != "" && c.lit(c.r.Name) && !re.MatchString(c.r.Name) {
		c.errf("", "invalid name: expected %s", what)
	}
}

func (c *checker) absPath(field, v string) {
	if !c.lit(v) || v == "" {
		return
	}
	if ch, ok := controlChar(v); ok {
		if field == "" {
			return // the name's own check said so
		}
		c.errf(field, "%s holds the control character %q: a path is one line of printable text", field, ch)
		return
	}
	if !path.IsAbs(v) || path.Clean(v) != v || v == "/" {
		what := field
		if what == "" {
			what = "name"
		}
		c.errf(field, "%s %q must be an absolute path, without . or .. parts, other than /", what, v)
	}
}

func (c *checker) required(field, v string) bool {
	if c.has(field) && v != "" {
		return true
	}
	if c.lax() {
		return false
	}
	c.errf("", "%s is required", field)
	return false
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	if c.lit(v) && v != "" && !slices.Contains(allowed, v) {
		c.errf(field, "%s %q is not one of %s", field, v, strings.Join(allowed, ", "))
	}
}

var modeRE = regexp.MustCompile(`^0?[0-7]{3}$|^[0-7]{4}$`)

func (c *checker) mode(v string) {
	if c.lit(v) && v != "" && !modeRE.MatchString(v) {
		c.errf("mode", "mode %q is not an octal mode such as \"0644\" (quote it in YAML)", v)
	}
}

func (c *checker) account(field, v string) {
	if c.lit(v) && v != "" && !accountRE.MatchString(v) {
		c.errf(field, "%s %q is not a valid user or group name", field, v)
	}
}

var (
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`)
	labelRE   = regexp.MustCompile(`^[^\s/]+$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// relPath checks a path relative to the role's templates/ or files/.
func (c *checker) relPath(field, v string) {
	if v == "" || !c.lit(v) {
		return
	}
	if path.IsAbs(v) || path.Clean(v) != v || strings.HasPrefix(v, "../") || v == ".." {
		c.errf(field, "%s %q must be a clean path inside the role's %s directory", field, v, roleDirOf(field))
	}
}

func roleDirOf(field string) string {
	if field == "source" {
		return "files/"
	}
	return "templates/"
}

func (c *checker) envKeys(env map[string]string) {
	for k, v := range env {
		if !envKeyRE.MatchString(k) {
			c.errf("env."+k, "variable name %q must be letters, digits and '_'", k)
			continue
		}
		// An envdir file's first line is the value (daemontools): a
		// newline would cut it short, a NUL would become a newline.
		c.line("env."+k, v)
	}
}

func (c *checker) goDuration(field, v string) {
	if c.lit(v) && v != "" {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			c.errf(field, "%s %q is not a duration such as 90m or 2h", field, v)
		}
	}
}

// fileRef is a field of a spec naming a file of the role whose text fills
// another field once compiled (a file's template fills its content).
type fileRef struct {
	field string  // the YAML name of the field naming the file
	path  string  // its value: a path under roles/ROLE/DIR/
	dir   string  // "templates" (rendered) or "files" (copied as is)
	fills string  // the YAML name of the field it fills
	into  *string // that field
}

// fileBacked is a spec with fields filled from files of the role. Load
// checks the files exist, Compile fills the fields, parity compares what
// they were filled with.
type fileBacked interface{ fileRefs() []fileRef }

// fileRefsOf returns the file references of s; none for most kinds.
func fileRefsOf(s Spec) []fileRef {
	if fb, ok := s.(fileBacked); ok {
		return fb.fileRefs()
	}
	return nil
}

// StateAbsent is the state of a resource to remove.
const StateAbsent = "absent"

// dataHolder is a spec whose removal may delete data (a directory's
// contents, a database), and which so takes delete_data. A kind says so
// by the method, in its own file.
type dataHolder interface{ holdsData() }

// dataKinds returns the kinds that hold data, sorted.
func dataKinds() []Kind {
	var out []Kind
	for _, k := range Kinds() {
		if _, ok := kinds()[k]().(dataHolder); ok {
			out = append(out, k)
		}
	}
	return out
}

// ownState reports whether the kind has a state field of its own (a
// package: present, absent or latest), which then replaces the common one.
func ownState(k Kind) bool {
	return slices.Contains(specFields(reflect.TypeOf(kinds()[k]()).Elem()), "state")
}

// commonFields are the keys every resource of kind k takes besides its
// own fields.
func commonFields(k Kind) []string {
	out := []string{"notify", "requires", "tags", "when", "for_each"}
	if !ownState(k) {
		out = append(out, "state")
	}
	if _, ok := kinds()[k]().(dataHolder); ok {
		out = append(out, "delete_data")
	}
	return out
}

// specFields lists the YAML names of a spec's fields, in declaration order.
// A field tagged yaml:"-" is filled by Compile, never written in the spec.
func specFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// fieldIndex returns the index of the field of struct type t whose YAML
// name is key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag == key && tag != "-" {
			return i
		}
	}
	return -1
}

// decodeField decodes one key of a resource into the spec's field named by
// YAML tag, recording the nodes of what it decodes (field, field[i],
// field.key, and for nested mappings field.sub and field[i].sub) for
// positions. It reports unknown keys.
func (f *source) decodeField(r *Resource, fd field) {
	v := reflect.ValueOf(r.Spec).Elem()
	t := v.Type()
	idx := fieldIndex(t, fd.key)
	what := fmt.Sprintf("%s %s", r.Kind, r.Name)
	if idx < 0 {
		if kinds()[Kind(fd.key)] != nil {
			f.errf(fd.k, "%s: unknown field %q: a %s is a resource kind; start a new list item (\"- %s: ...\") for each resource", what, fd.key, fd.key, fd.key)
			return
		}
		f.unknown(fd, what, append(specFields(t), commonFields(r.Kind)...))
		return
	}
	f.decodeValue(r, fd.key, what+": "+fd.key, fd.v, v.Field(idx))
}

// decodeValue decodes node n into fv, recording nodes under key.
func (f *source) decodeValue(r *Resource, key, what string, n *yaml.Node, fv reflect.Value) {
	r.nodes[key] = n
	switch p := fv.Addr().Interface().(type) {
	case *string:
		*p, _ = f.str(n, what)
	case *bool:
		*p, _ = f.boolean(n, what)
	case **bool:
		if b, ok := f.boolean(n, what); ok {
			*p = &b
		}
	case *int:
		*p, _ = f.integer(n, what)
	case **int:
		if i, ok := f.integer(n, what); ok {
			*p = &i
		}
	case *[]string:
		list, nodes := f.strList(n, what)
		*p = list
		for i, c := range nodes {
			r.nodes[fmt.Sprintf("%s[%d]", key, i)] = c
		}
	case *map[string]string:
		m := map[string]string{}
		for _, e := range f.fields(n, what) {
			if s, ok := f.str(e.v, what+"."+e.key); ok {
				m[e.key] = s
				r.nodes[key+"."+e.key] = e.v
			}
		}
		*p = m
	default:
		switch {
		case fv.Kind() == reflect.Struct:
			// A nested mapping (a site's tls: {...}): its own known keys.
			for _, e := range f.fields(n, what) {
				i := fieldIndex(fv.Type(), e.key)
				if i < 0 {
					f.unknown(e, what, specFields(fv.Type()))
					continue
				}
				f.decodeValue(r, key+"."+e.key, what+"."+e.key, e.v, fv.Field(i))
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			// A list of nested mappings (a site's locations).
			if isNull(n) {
				return
			}
			if n.Kind != yaml.SequenceNode {
				f.errf(n, "%s: expected a list, got %s", what, describe(n))
				return
			}
			out := reflect.MakeSlice(fv.Type(), len(n.Content), len(n.Content))
			for i, c := range n.Content {
				k := fmt.Sprintf("%s[%d]", key, i)
				if c.Kind != yaml.MappingNode {
					f.errf(c, "%s[%d]: expected a mapping, got %s", what, i, describe(c))
					continue
				}
				f.decodeValue(r, k, fmt.Sprintf("%s[%d]", what, i), c, out.Index(i))
			}
			fv.Set(out)
		default:
			panic("spec: unsupported field type " + fv.Type().String())
		}
	}
}

// eachString calls fn with a pointer to each string of the spec (fields,
// list elements, map values, and those of nested mappings) and the key of
// its node, so that rendering can replace them in place. Fields filled by
// Compile (yaml:"-") are left out.
func eachString(s Spec, fn func(key string, p *string)) {
	eachStringOf(reflect.ValueOf(s).Elem(), "", fn)
}

func eachStringOf(v reflect.Value, prefix string, fn func(key string, p *string)) {
	t := v.Type()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		tag = prefix + tag
		fv := v.Field(i)
		switch p := fv.Addr().Interface().(type) {
		case *string:
			fn(tag, p)
		case *[]string:
			for j := range *p {
				fn(fmt.Sprintf("%s[%d]", tag, j), &(*p)[j])
			}
		case *map[string]string:
			keys := make([]string, 0, len(*p))
			for k := range *p {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				val := (*p)[k]
				fn(tag+"."+k, &val)
				(*p)[k] = val
			}
		default:
			switch {
			case fv.Kind() == reflect.Struct:
				eachStringOf(fv, tag+".", fn)
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
				for j := range fv.Len() {
					eachStringOf(fv.Index(j), fmt.Sprintf("%s[%d].", tag, j), fn)
				}
			}
		}
	}
}

// cloneSpec returns a deep copy of s.
func cloneSpec(s Spec) Spec {
	v := reflect.ValueOf(s).Elem()
	out := reflect.New(v.Type())
	out.Elem().Set(deepCopy(v))
	return out.Interface().(Spec)
}

// deepCopy copies v with its own slices, maps and pointed-to values; nil
// stays nil.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			out.Field(i).Set(deepCopy(v.Field(i)))
		}
		return out
	}
	return v
}

// Resource is one resource of a role: in a Role as declared (templates
// unrendered), in a compiled Host rendered for that host.
type Resource struct {
	ID       string   // "kind:name"
	Kind     Kind     // what the resource is
	Name     string   // the value of the kind key: a path, package name...
	Role     string   // the role declaring it
	Pos      Pos      // where it is declared (its kind key)
	Requires []string // ids of resources that must be converged first
	Notify   []string // handlers to run when this resource changes
	Tags     []string // names plan and apply select it by (--only, --skip), besides its role's name
	// When is a condition (a template rendering to true or false): the
	// resource is declared on a host only where it holds.
	When string
	// ForEach names a variable holding a list or mapping: the resource
	// is declared once per item, its templates seeing .item (a list's
	// element; a mapping's {key, value}, in key order).
	ForEach    string
	forEachPos Pos
	Sensitive  bool // a secret value appears in a field (Compile only)
	// State is "" (present) or "absent": remove it from the host, even if
	// tend did not create it. A package says it in its own state field.
	State string
	// DeleteData: the resource's data (a directory's contents, a git
	// checkout's local changes, a database) may go with it.
	DeleteData bool
	Spec       Spec // the kind's fields

	src   *source
	nodes map[string]*yaml.Node // "" is the name; then field, field[i], field.key, requires[i], notify[i]
}

// fieldPos returns the position of a field's value, or of the resource.
func (r *Resource) fieldPos(key string) Pos {
	if n, ok := r.nodes[key]; ok && n != nil {
		return r.src.pos(n)
	}
	return r.Pos
}

// Selected reports whether r is in a run restricted to the tags only
// (none: every resource) and without the tags skip. A resource answers to
// its tags and to its role's name.
func (r *Resource) Selected(only, skip []string) bool {
	has := func(tags []string) bool {
		for _, t := range tags {
			if t == r.Role || slices.Contains(r.Tags, t) {
				return true
			}
		}
		return false
	}
	return (len(only) == 0 || has(only)) && !has(skip)
}

// CheckTag reports an error when tag names no role of the repository and
// no resource's tag: a typo in --only would otherwise select nothing.
func (r *Repo) CheckTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%q is not a tag: letters, digits, '.', '_' and '-'", tag)
	}
	if r.Roles[tag] != nil {
		return nil
	}
	for _, role := range r.Roles {
		for _, res := range role.Resources {
			if slices.Contains(res.Tags, tag) {
				return nil
			}
		}
	}
	return fmt.Errorf("no resource has the tag %q, and no role is named so", tag)
}
