package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// Load reads the repository at dir. It returns an ErrorList holding every
// problem found, each with its position, or the loaded Repo. Templates are
// parsed (syntax errors are load errors) but rendered only by Compile.
func Load(dir string) (*Repo, error) {
	l := &loader{dir: dir, repo: &Repo{
		Dir:          dir,
		Vars:         Vars{},
		Environments: map[string]*Environment{},
		Roles:        map[string]*Role{},
		inline:       map[*yaml.Node]*template.Template{},
		files:        map[string]map[string]*template.Template{},
	}, brokenEnvs: map[string]bool{}, brokenRoles: map[string]bool{}}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("repository %s: not a directory", dir)
	}
	l.project()
	l.roles()
	l.environments()
	if len(l.errs) == 0 {
		l.hosts()
	}
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return l.repo, nil
}

type loader struct {
	dir  string
	repo *Repo
	errs ErrorList
	// broken holds the environments and roles whose files exist but were
	// reported as invalid: a reference to one of them is not reported
	// again as unknown, so one mistake gives one error.
	brokenEnvs, brokenRoles map[string]bool
}

// read opens a YAML file of the repository; nil when it cannot.
func (l *loader) read(rel string) (*source, *yaml.Node) {
	f := &source{name: rel, errs: &l.errs}
	data, err := os.ReadFile(filepath.Join(l.dir, filepath.FromSlash(rel)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.errs.add(Pos{File: rel}, "file not found")
		} else {
			l.errs.add(Pos{File: rel}, "cannot read: %v", errors.Unwrap(err))
		}
		return f, nil
	}
	return f, f.parse(data)
}

func (l *loader) project() {
	f, root := l.read("tend.yaml")
	if root == nil {
		return
	}
	for _, fd := range f.fields(root, "tend.yaml") {
		switch fd.key {
		case "name":
			if s, ok := f.str(fd.v, "name"); ok && f.checkName(fd.v, "project", s) {
				l.repo.Name = s
			}
		case "vars":
			l.repo.Vars = f.vars(fd.v, "vars")
		case "remove_unmanaged_packages":
			l.repo.RemoveUnmanagedPackages, _ = f.boolean(fd.v, "remove_unmanaged_packages")
		case "imports":
			l.imports(f, fd.v)
		default:
			f.unknown(fd, "project", []string{"name", "vars", "remove_unmanaged_packages", "imports"})
		}
	}
}

// list returns the entries of a directory of the repository, sorted.
func (l *loader) list(rel string) []fs.DirEntry {
	entries, err := os.ReadDir(filepath.Join(l.dir, rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.errs.add(Pos{File: rel}, "cannot read directory: %v", errors.Unwrap(err))
	}
	return entries
}

func (l *loader) environments() {
	for _, e := range l.list("environments") {
		name, isYAML := strings.CutSuffix(e.Name(), ".yaml")
		rel := "environments/" + e.Name()
		switch {
		case strings.HasPrefix(e.Name(), "."):
			continue
		case e.IsDir():
			l.errs.add(Pos{File: rel}, "unexpected directory: environments/ holds one NAME.yaml file per environment")
			continue
		case strings.HasSuffix(e.Name(), ".yml"):
			l.errs.add(Pos{File: rel}, "environment files end in .yaml: rename it to %s.yaml", strings.TrimSuffix(e.Name(), ".yml"))
			l.brokenEnvs[strings.TrimSuffix(e.Name(), ".yml")] = true
			continue
		case !isYAML:
			continue
		case !nameRE.MatchString(name):
			l.errs.add(Pos{File: rel}, "invalid environment name %q: use lowercase letters, digits, '.', '-' and '_'", name)
			l.brokenEnvs[name] = true
			continue
		}
		before := len(l.errs)
		if env := l.environment(name, rel); env != nil {
			l.repo.Environments[name] = env
		}
		if len(l.errs) > before {
			l.brokenEnvs[name] = true
		}
	}
	if len(l.repo.Environments) == 0 && len(l.errs) == 0 {
		l.errs.add(Pos{File: "environments"}, "no environments: add a file environments/NAME.yaml")
	}
	// like: checked once every environment is known.
	for _, name := range l.repo.EnvironmentNames() {
		env := l.repo.Environments[name]
		if env.Like == "" {
			continue
		}
		other := l.repo.Environments[env.Like]
		switch {
		case env.Like == name:
			l.errs.add(env.LikePos, "environment %s cannot be like itself", name)
		case other == nil && l.brokenEnvs[env.Like]:
			// reported in its own file
		case other == nil:
			l.errs.add(env.LikePos, "like: unknown environment %q (environments: %s)", env.Like, strings.Join(l.repo.EnvironmentNames(), ", "))
		case l.brokenEnvs[env.Like]:
			// its hosts may be missing because of the error reported there
		default:
			for _, rule := range env.MayDiffer {
				seg := strings.Split(rule.Path, ".")
				if seg[0] == "hosts" && seg[1] != "*" && env.Host(seg[1]) == nil && other.Host(seg[1]) == nil {
					l.errs.add(rule.Pos, "may_differ: %q: no host %s in %s or %s", rule.Path, seg[1], name, other.Name)
				}
			}
			for _, h := range env.Hosts {
				if h.Like != "" && other.Host(h.Like) == nil {
					l.errs.add(h.Pos, "host %s: like: environment %s has no host %q", h.Name, other.Name, h.Like)
				}
			}
		}
	}
}

var envFields = []string{"like", "may_differ", "vars", "secrets", "hosts", "groups", "dns"}

func (l *loader) environment(name, rel string) *Environment {
	f, root := l.read(rel)
	if root == nil {
		return nil
	}
	env := &Environment{Name: name, File: rel, Vars: Vars{}}
	var hostsNode, groupsNode *yaml.Node
	defer func() { l.groups(f, env, groupsNode) }()
	for _, fd := range f.fields(root, rel) {
		switch fd.key {
		case "like":
			if s, ok := f.str(fd.v, "like"); ok {
				env.Like, env.LikePos = s, f.pos(fd.v)
			}
		case "may_differ":
			list, nodes := f.strList(fd.v, "may_differ")
			for i, p := range list {
				if msg := checkRule(p); msg != "" {
					f.errf(nodes[i], "may_differ: %s", msg)
					continue
				}
				env.MayDiffer = append(env.MayDiffer, PathRule{Path: p, Pos: f.pos(nodes[i])})
			}
			if len(list) > 0 && env.Like == "" {
				defer func() {
					if env.Like == "" {
						f.errf(fd.k, "may_differ needs like: it lists what may differ from the environment this one is like")
					}
				}()
			}
		case "vars":
			env.Vars = f.vars(fd.v, "vars")
		case "secrets":
			l.secrets(f, env, fd.v)
		case "hosts":
			hostsNode = fd.v
		case "groups":
			groupsNode = fd.v
		case "dns":
			l.dns(f, env, fd.v)
		default:
			f.unknown(fd, "environment "+name, envFields)
		}
	}
	if hostsNode == nil {
		f.errf(root, "environment %s has no hosts: add a hosts: mapping", name)
		return env
	}
	fields := f.fields(hostsNode, "hosts")
	if len(fields) == 0 && hostsNode.Kind == yaml.MappingNode {
		f.errf(hostsNode, "environment %s has no hosts", name)
	}
	for _, fd := range fields {
		if !f.checkName(fd.k, "host", fd.key) {
			continue
		}
		env.Hosts = append(env.Hosts, l.host(f, env, fd))
	}
	for _, s := range env.Secrets {
		if v, ok := env.Vars[s.Var]; ok {
			l.errs.add(v.Pos, "variable %q is also mapped to secret %s at line %d: a name is either a variable or a secret", s.Var, s.Secret, s.Pos.Line)
		}
		for _, h := range env.Hosts {
			if v, ok := h.Vars[s.Var]; ok {
				l.errs.add(v.Pos, "host %s: variable %q is also mapped to secret %s at line %d: a name is either a variable or a secret", h.Name, s.Var, s.Secret, s.Pos.Line)
			}
		}
	}
	return env
}

func (l *loader) secrets(f *source, env *Environment, n *yaml.Node) {
	for _, fd := range f.fields(n, "secrets") {
		s, ok := f.str(fd.v, "secrets: "+fd.key)
		switch {
		case !ok:
			continue
		case !varRE.MatchString(fd.key) || slices.Contains(reservedVars, fd.key):
			f.errf(fd.k, "secrets: %q cannot be a variable name: use letters, digits and '_', and not env, host or tend", fd.key)
		case strings.HasPrefix(fd.key, "vault_"):
			f.errf(fd.k, "secrets: %q: the plain name is the key and the vault_ name the value, as in db_password: vault_db_password", fd.key)
		case !strings.HasPrefix(s, "vault_") || !varRE.MatchString(s):
			f.errf(fd.v, "secrets: %s: secret name %q must start with vault_ and use letters, digits and '_'", fd.key, s)
		default:
			env.Secrets = append(env.Secrets, SecretRef{Var: fd.key, Secret: s, Pos: f.pos(fd.v)})
		}
	}
}

var (
	hostFields = []string{"like", "address", "addresses", "ssh", "provider", "location", "kind", "arch", "roles", "vars"}
	hostKinds  = []string{"bare-metal", "vps", "proxmox-ct", "proxmox-vm"}
	arches     = []string{"amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x"}
	numericRE  = regexp.MustCompile(`^[0-9.]+$`)
	dnsRE      = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$`)
)

// validAddress accepts an IPv4 or IPv6 address or a DNS name.
func validAddress(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return len(s) <= 253 && dnsRE.MatchString(s) && !numericRE.MatchString(s)
}

func (l *loader) host(f *source, env *Environment, fd field) *HostDecl {
	h := &HostDecl{Name: fd.key, Pos: f.pos(fd.k), SSH: SSH{User: "root", Port: 22}, Arch: "amd64", Vars: Vars{}}
	what := "host " + h.Name
	hasAddress := false
	before := len(l.errs)
	for _, x := range f.fields(fd.v, what) {
		w := what + ": " + x.key
		switch x.key {
		case "like":
			if s, ok := f.str(x.v, w); ok {
				h.Like = s
				if env.Like == "" {
					f.errf(x.k, "%s: like needs the environment's like: the host is matched in that environment", what)
				}
			}
		case "address":
			if s, ok := f.str(x.v, w); ok {
				hasAddress = true
				if !validAddress(s) {
					f.errf(x.v, "%s: %q is not an IPv4 or IPv6 address or a DNS name", w, s)
				}
				h.Address = s
			}
		case "addresses":
			h.Addresses = map[string]string{}
			for _, a := range f.fields(x.v, w) {
				s, ok := f.str(a.v, w+"."+a.key)
				if !ok {
					continue
				}
				if !varRE.MatchString(a.key) {
					f.errf(a.k, "%s: invalid address name %q: use letters, digits and '_'", w, a.key)
				}
				if !validAddress(s) {
					f.errf(a.v, "%s.%s: %q is not an IPv4 or IPv6 address or a DNS name", w, a.key, s)
				}
				h.Addresses[a.key] = s
			}
		case "ssh":
			for _, s := range f.fields(x.v, w) {
				switch s.key {
				case "user":
					if u, ok := f.str(s.v, w+".user"); ok {
						if !accountRE.MatchString(u) {
							f.errf(s.v, "%s.user: %q is not a valid user name", w, u)
						}
						h.SSH.User = u
					}
				case "port":
					if p, ok := f.integer(s.v, w+".port"); ok {
						if p < 1 || p > 65535 {
							f.errf(s.v, "%s.port: %d is out of range 1-65535", w, p)
						}
						h.SSH.Port = p
					}
				default:
					f.unknown(s, w, []string{"user", "port"})
				}
			}
		case "provider", "location":
			if s, ok := f.str(x.v, w); ok {
				if x.key == "provider" {
					h.Provider = s
				} else {
					h.Location = s
				}
			}
		case "kind":
			if s, ok := f.str(x.v, w); ok {
				if !slices.Contains(hostKinds, s) {
					f.errf(x.v, "%s: %q is not one of %s", w, s, strings.Join(hostKinds, ", "))
				}
				h.Kind = s
			}
		case "arch":
			if s, ok := f.str(x.v, w); ok {
				if !slices.Contains(arches, s) {
					f.errf(x.v, "%s: %q is not a Go architecture name (%s)", w, s, strings.Join(arches, ", "))
				}
				h.Arch = s
			}
		case "roles":
			list, nodes := f.strList(x.v, w)
			for i, r := range list {
				if slices.Contains(h.Roles, r) {
					f.errf(nodes[i], "%s: role %s listed twice", w, r)
					continue
				}
				h.Roles = append(h.Roles, r)
				h.rolePos = append(h.rolePos, f.pos(nodes[i]))
			}
		case "vars":
			h.Vars = f.vars(x.v, w)
		default:
			f.unknown(x, what, hostFields)
		}
	}
	// A host whose fields were reported (a misspelt "adress:") is not also
	// told it has no address.
	if !hasAddress && fd.v.Kind == yaml.MappingNode && len(l.errs) == before || isNull(fd.v) {
		f.errf(fd.k, "%s has no address: set address: to what SSH connects to", what)
	}
	for i, r := range h.Roles {
		if l.repo.Roles[r] == nil && !l.brokenRoles[r] {
			l.errs.add(h.rolePos[i], "%s: unknown role %q%s", what, r, l.roleList())
		}
	}
	return h
}

func (l *loader) roleList() string {
	var names []string
	for n := range l.repo.Roles {
		names = append(names, n)
	}
	if len(names) == 0 {
		return " (there are no roles in roles/)"
	}
	slices.Sort(names)
	return " (roles: " + strings.Join(names, ", ") + ")"
}

func (l *loader) roles() {
	for _, e := range l.list("roles") {
		rel := "roles/" + e.Name()
		switch {
		case strings.HasPrefix(e.Name(), "."):
			continue
		case !e.IsDir():
			l.errs.add(Pos{File: rel}, "unexpected file: roles/ holds one directory per role")
			continue
		case !nameRE.MatchString(e.Name()):
			l.errs.add(Pos{File: rel}, "invalid role name %q: use lowercase letters, digits, '.', '-' and '_'", e.Name())
			l.brokenRoles[e.Name()] = true
			continue
		}
		if _, err := os.Stat(filepath.Join(l.dir, rel, "role.yaml")); err != nil {
			l.errs.add(Pos{File: rel}, "role %s has no role.yaml", e.Name())
			l.brokenRoles[e.Name()] = true
			continue
		}
		l.repo.Roles[e.Name()] = &Role{Name: e.Name(), File: rel + "/role.yaml", Vars: Vars{}}
	}
	l.vendored()
	// Parse once every name is known, so that requires can be checked.
	for _, r := range l.repo.Roles {
		l.templates(r.Name)
		l.role(r)
	}
	l.roleCycles()
}

var roleFields = []string{"requires", "vars", "resources", "handlers", "when"}

func (l *loader) role(r *Role) {
	f, root := l.read(r.File)
	if root == nil {
		return
	}
	var resources *yaml.Node
	for _, fd := range f.fields(root, r.File) {
		switch fd.key {
		case "requires":
			list, nodes := f.strList(fd.v, "requires")
			for i, name := range list {
				switch {
				case l.repo.Roles[name] == nil && l.brokenRoles[name]:
					// reported where the role is
				case l.repo.Roles[name] == nil:
					f.errf(nodes[i], "requires: unknown role %q%s", name, l.roleList())
				case name == r.Name:
					f.errf(nodes[i], "requires: role %s cannot require itself", name)
				case slices.Contains(r.Requires, name):
					f.errf(nodes[i], "requires: role %s listed twice", name)
				default:
					r.Requires = append(r.Requires, name)
					r.requiresPos = append(r.requiresPos, f.pos(nodes[i]))
				}
			}
		case "vars":
			r.Vars = f.vars(fd.v, "vars")
		case "when":
			if w, ok := f.str(fd.v, "when"); ok {
				r.When, r.whenNode, r.src = w, fd.v, f
				if !strings.Contains(w, "{{") && w != "true" && w != "false" {
					f.errf(fd.v, "role %s: when %q is neither a template nor true or false", r.Name, w)
				}
				l.parseInline(f, fd.v, "when")
			}
		case "resources":
			resources = fd.v
		case "handlers":
			for _, h := range f.fields(fd.v, "handlers") {
				if hd := l.handler(f, r, h); hd != nil {
					r.Handlers = append(r.Handlers, hd)
				}
			}
		default:
			f.unknown(fd, "role "+r.Name, roleFields)
		}
	}
	if resources == nil || isNull(resources) {
		return
	}
	if resources.Kind != yaml.SequenceNode {
		f.errf(resources, "resources: expected a list, got %s", describe(resources))
		return
	}
	for _, n := range resources.Content {
		if res := l.resource(f, r, n); res != nil {
			r.Resources = append(r.Resources, res)
		}
	}
}

var handlerFields = []string{"service", "action", "command"}

func (l *loader) handler(f *source, r *Role, fd field) *Handler {
	if !f.checkName(fd.k, "handler", fd.key) {
		return nil
	}
	h := &Handler{Name: fd.key, Role: r.Name, Pos: f.pos(fd.k), src: f}
	what := "handler " + fd.key
	for _, x := range f.fields(fd.v, what) {
		switch x.key {
		case "service":
			h.Service, _ = f.str(x.v, what+": service")
			h.node = x.v
			l.parseInline(f, x.v, what+": service")
		case "command":
			h.Command, _ = f.str(x.v, what+": command")
			h.cmd = x.v
			l.parseInline(f, x.v, what+": command")
		case "action":
			if s, ok := f.str(x.v, what+": action"); ok {
				if s != "reload" && s != "restart" {
					f.errf(x.v, "%s: action %q is not reload or restart", what, s)
				}
				h.Action = s
			}
		default:
			f.unknown(x, what, handlerFields)
		}
	}
	switch {
	case h.cmd != nil && (h.node != nil || h.Action != ""):
		f.errf(fd.k, "%s: a handler runs a command or acts on a service, not both", what)
		return nil
	case h.cmd != nil:
		if strings.TrimSpace(h.Command) == "" {
			f.errf(h.cmd, "%s: command is empty", what)
			return nil
		}
	case h.node == nil || h.Action == "":
		f.errf(fd.k, "%s: service and action (reload or restart) are required, or a command", what)
		return nil
	}
	return h
}

var idRE = regexp.MustCompile(`^([a-z_]+):(.+)$`)

// groups decodes an environment's groups: name -> host names, each a
// host of the environment; a group may not be named like a host or a role
// (--limit takes all three).
func (l *loader) groups(f *source, env *Environment, n *yaml.Node) {
	if n == nil {
		return
	}
	env.Groups = map[string][]string{}
	for _, fd := range f.fields(n, "groups") {
		if !f.checkName(fd.k, "group", fd.key) {
			continue
		}
		if env.Host(fd.key) != nil {
			f.errf(fd.k, "group %s: a host of %s has that name: --limit could not tell them apart", fd.key, env.Name)
			continue
		}
		if l.repo.Roles[fd.key] != nil {
			f.errf(fd.k, "group %s: a role has that name: --limit could not tell them apart", fd.key)
			continue
		}
		list, nodes := f.strList(fd.v, "groups: "+fd.key)
		for i, h := range list {
			if env.Host(h) == nil {
				f.errf(nodes[i], "group %s: %q is not a host of %s", fd.key, h, env.Name)
				continue
			}
			env.Groups[fd.key] = append(env.Groups[fd.key], h)
		}
	}
}

// varNameRE is a variable's name, as for_each names it.
var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// tagRE is what a tag is (a resource's tags, --only and --skip).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// resource decodes one entry of a role's resources list.
func (l *loader) resource(f *source, role *Role, n *yaml.Node) *Resource {
	fields := f.fields(n, "resource")
	if n.Kind != yaml.MappingNode {
		return nil
	}
	all := kinds()
	r := &Resource{Role: role.Name, Pos: f.pos(n), src: f, nodes: map[string]*yaml.Node{}}
	if len(fields) == 0 {
		f.errf(n, "empty resource: start it with its kind, one of %s", kindList())
		return nil
	}
	first := fields[0]
	if all[Kind(first.key)] == nil {
		f.errf(first.k, "resource starts with %q, not a kind: start it with one of %s", first.key, kindList())
		return nil
	}
	r.Kind, r.Pos, r.Spec = Kind(first.key), f.pos(first.k), all[Kind(first.key)]()
	if s, ok := f.str(first.v, first.key); ok {
		r.Name = s
		r.nodes[""] = first.v
		if s == "" {
			f.errf(first.v, "%s: the name is empty", first.key)
		}
	}
	r.ID = string(r.Kind) + ":" + r.Name
	before := len(l.errs)
	for _, fd := range fields[1:] {
		switch fd.key {
		case "notify", "requires":
			list, nodes := f.strList(fd.v, fd.key)
			for i, s := range list {
				r.nodes[fmt.Sprintf("%s[%d]", fd.key, i)] = nodes[i]
				if fd.key == "notify" {
					r.Notify = append(r.Notify, s)
					continue
				}
				if m := idRE.FindStringSubmatch(s); m == nil || all[Kind(m[1])] == nil {
					f.errf(nodes[i], "%s %s: requires: %q is not a resource id such as \"package:nginx\" (kind:name)", r.Kind, r.Name, s)
				}
				r.Requires = append(r.Requires, s)
				l.parseInline(f, nodes[i], "requires")
			}
		case "when":
			if w, ok := f.str(fd.v, fd.key); ok {
				r.When = w
				r.nodes["when"] = fd.v
				if !strings.Contains(w, "{{") && w != "true" && w != "false" {
					f.errf(fd.v, "%s %s: when %q is neither a template nor true or false, e.g. when: '{{ eq .host.arch \"amd64\" }}'", r.Kind, r.Name, w)
				}
			}
		case "for_each":
			if v, ok := f.str(fd.v, fd.key); ok {
				r.ForEach = v
				r.forEachPos = f.pos(fd.v)
				if !varNameRE.MatchString(v) {
					f.errf(fd.v, "%s %s: for_each %q must name a variable holding a list or a mapping, e.g. for_each: vhosts", r.Kind, r.Name, v)
				}
			}
		case "tags":
			list, nodes := f.strList(fd.v, fd.key)
			for i, s := range list {
				if !tagRE.MatchString(s) {
					f.errf(nodes[i], "%s %s: tags: %q is not a tag: letters, digits, '.', '_' and '-'", r.Kind, r.Name, s)
					continue
				}
				r.Tags = append(r.Tags, s)
			}
		case "state":
			if ownState(r.Kind) {
				f.decodeField(r, fd) // a package's: present, absent or latest
				break
			}
			if s, ok := f.str(fd.v, fd.key); ok {
				switch s {
				case "present":
				case StateAbsent:
					r.State = StateAbsent
				default:
					f.errf(fd.v, "%s %s: state %q is not one of present, absent", r.Kind, r.Name, s)
				}
			}
		case "delete_data":
			if _, ok := r.Spec.(dataHolder); !ok {
				f.errf(fd.k, "%s %s: delete_data: a %s holds no data tend could delete (only %s do)", r.Kind, r.Name, r.Kind, kindNames(dataKinds()))
				break
			}
			r.DeleteData, _ = f.boolean(fd.v, r.ID+": delete_data")
		default:
			f.decodeField(r, fd)
		}
	}
	(&checker{r: r, errs: &l.errs, load: true, decodeErr: len(l.errs) > before}).check()
	r.Spec.defaults()
	l.parseInline(f, r.nodes[""], "name")
	for key, node := range r.nodes {
		if key != "" && !strings.HasPrefix(key, "requires[") {
			l.parseInline(f, node, key)
		}
	}
	l.checkFileRefs(r)
	return r
}

func kindNames(ks []Kind) string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func kindList() string {
	var s []string
	for _, k := range Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// checkFileRefs checks at load time that a literal template or source
// path names an existing file of the role.
func (l *loader) checkFileRefs(r *Resource) {
	for _, ref := range fileRefsOf(r.Spec) {
		p, field := ref.path, ref.field
		if p == "" || strings.Contains(p, "{{") || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") {
			continue
		}
		if ref.dir == "files" {
			fi, err := os.Stat(filepath.Join(l.dir, l.repo.roleDir(r.Role), "files", filepath.FromSlash(p)))
			if err != nil || !fi.Mode().IsRegular() {
				l.errs.add(r.fieldPos(field), "%s %s: %s: no file %s/files/%s", r.Kind, r.Name, field, l.repo.roleDir(r.Role), p)
			}
			continue
		}
		if l.repo.files[r.Role][p] == nil {
			l.errs.add(r.fieldPos(field), "%s %s: %s: no file %s/templates/%s", r.Kind, r.Name, field, l.repo.roleDir(r.Role), p)
		}
	}
}

// templates parses every file under roles/NAME/templates/.
func (l *loader) templates(role string) {
	root := filepath.Join(l.dir, l.repo.roleDir(role), "templates")
	out := map[string]*template.Template{}
	l.repo.files[role] = out
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				l.errs.add(Pos{File: path.Join(l.repo.roleDir(role), "templates")}, "cannot read: %v", err)
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		name := path.Join(l.repo.roleDir(role), "templates", rel)
		data, err := os.ReadFile(p)
		if err != nil {
			l.errs.add(Pos{File: name}, "cannot read: %v", errors.Unwrap(err))
			return nil
		}
		t, err := template.New(name).Funcs(parseFuncs).Option("missingkey=error").Parse(string(data))
		if err != nil {
			p, msg := templateErrPos(err)
			l.errs.add(Pos{File: name, Line: p.Line, Col: p.Col}, "template: %s", msg)
			out[rel] = template.New(name) // known to exist: no second error
			return nil
		}
		out[rel] = t
		l.repo.UsesFacts = l.repo.UsesFacts || strings.Contains(string(data), ".facts")
		return nil
	})
}

// parseInline parses a string field holding a template action, reporting
// syntax errors at their position in the file.
func (l *loader) parseInline(f *source, n *yaml.Node, what string) {
	if n == nil || n.Kind != yaml.ScalarNode || !strings.Contains(n.Value, "{{") {
		return
	}
	t, err := template.New("inline").Funcs(parseFuncs).Option("missingkey=error").Parse(n.Value)
	if err != nil {
		p, msg := templateErrPos(err)
		l.errs.add(inlinePos(f, n, p), "%s: template: %s", what, msg)
		return
	}
	l.repo.inline[n] = t
	l.repo.UsesFacts = l.repo.UsesFacts || strings.Contains(n.Value, ".facts")
}

// roleCycles reports every cycle of role requirements once.
func (l *loader) roleCycles() {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		r := l.repo.Roles[name]
		for i, req := range r.Requires {
			switch state[req] {
			case active:
				cycle := append(slices.Clone(stack[slices.Index(stack, req):]), req)
				l.errs.add(r.requiresPos[i], "requires: role cycle %s", strings.Join(cycle, " -> "))
			case unvisited:
				visit(req)
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	var names []string
	for n := range l.repo.Roles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if state[n] == unvisited {
			visit(n)
		}
	}
}

// expand returns roles and everything they require, required roles first,
// each once, in a stable order.
func (r *Repo) expand(roles []string) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		role := r.Roles[name]
		if seen[name] || role == nil {
			return
		}
		seen[name] = true
		for _, req := range role.Requires {
			visit(req)
		}
		out = append(out, name)
	}
	for _, name := range roles {
		visit(name)
	}
	return out
}

// hosts checks what depends on a host's set of roles, with literal names:
// duplicate resource ids, requires targets, notified handlers. Compile checks
// again after rendering.
func (l *loader) hosts() {
	for _, name := range l.repo.EnvironmentNames() {
		env := l.repo.Environments[name]
		for _, h := range env.Hosts {
			roles := l.repo.expand(h.Roles)
			checkResources(l.repo, roles, &l.errs, func(r *Resource) (string, bool) {
				return r.ID, !strings.Contains(r.ID, "{{")
			})
		}
	}
	// notify: a handler of the role or of a role it requires.
	for _, r := range l.repo.Roles {
		handlers := map[string]bool{}
		for _, name := range l.repo.expand([]string{r.Name}) {
			for _, h := range l.repo.Roles[name].Handlers {
				handlers[h.Name] = true
			}
		}
		for _, res := range r.Resources {
			for i, n := range res.Notify {
				if !handlers[n] {
					l.errs.add(res.fieldPos(fmt.Sprintf("notify[%d]", i)), "%s %s: notify: no handler %q in role %s or the roles it requires", res.Kind, res.Name, n, r.Name)
				}
			}
		}
	}
}

// checkResources reports duplicate ids, requires naming no resource, and
// conflicting handlers among the resources of roles. id gives a resource's
// id and whether it can be checked yet.
func checkResources(repo *Repo, roles []string, errs *ErrorList, id func(*Resource) (string, bool)) {
	seen := map[string]*Resource{}
	complete := true
	for _, name := range roles {
		for _, r := range repo.Roles[name].Resources {
			rid, ok := id(r)
			if !ok {
				complete = false
				continue
			}
			if prev := seen[rid]; prev != nil {
				errs.add(r.Pos, "duplicate resource %s: also declared at %s", rid, prev.Pos)
				continue
			}
			seen[rid] = r
		}
	}
	for _, name := range roles {
		for _, r := range repo.Roles[name].Resources {
			for i, req := range r.Requires {
				if strings.Contains(req, "{{") || !complete || !idRE.MatchString(req) {
					continue
				}
				// A tunnel's client side comes from another host's role:
				// compiling the host checks it.
				if seen[req] == nil && !strings.HasPrefix(req, string(KindTunnel)+":") {
					errs.add(r.fieldPos(fmt.Sprintf("requires[%d]", i)), "%s %s: requires %s, which no role of the host declares", r.Kind, r.Name, req)
				}
			}
		}
	}
	handlers := map[string]*Handler{}
	for _, name := range roles {
		for _, h := range repo.Roles[name].Handlers {
			if prev := handlers[h.Name]; prev != nil && (prev.Service != h.Service || prev.Action != h.Action || prev.Command != h.Command) {
				errs.add(h.Pos, "handler %s conflicts with the handler of the same name at %s", h.Name, prev.Pos)
				continue
			}
			handlers[h.Name] = h
		}
	}
}
