package spec

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tend/internal/hint"
	"tend/internal/snapkey"
)

// Host is one host compiled for one environment: how to reach it and its
// rendered resources in the order they must be converged.
type Host struct {
	Env       string
	Name      string
	Address   string
	Addresses map[string]string
	SSH       SSH
	Provider  string
	Location  string
	Kind      string
	Arch      string
	Roles     []string    // every role, required ones first
	Vars      Vars        // the merged variables, secrets excluded
	Secrets   []SecretRef // the secret variables the host's templates may use
	Resources []*Resource // rendered, in convergence order
	Handlers  []*Handler  // rendered, in role order
	// RemoveUnmanagedPackages: a package that leaves the spec is removed
	// (tend.yaml's remove_unmanaged_packages).
	RemoveUnmanagedPackages bool
}

// SecretPlaceholder is the value a secret variable has when Compile is
// given no secrets (as tend validate does): templates using it render, and
// the resources holding it are marked Sensitive.
func SecretPlaceholder(secret string) string { return "(secret " + secret + ")" }

// Compile renders host of environment env. secrets maps secret names
// (vault_...) to their values; with a nil map every secret variable gets
// SecretPlaceholder instead, and with a non-nil map a missing secret is an
// error. Problems in the repository come back as an ErrorList. Compile is
// safe for concurrent use.
func (r *Repo) Compile(env, host string, secrets map[string]string) (*Host, error) {
	return r.CompileFacts(env, host, secrets, nil)
}

// CompileFacts is Compile with the facts gathered from the host (see
// Facts): templates and conditions see them as .facts. With nil, they see
// PlaceholderFacts, as Compile's do.
func (r *Repo) CompileFacts(env, host string, secrets map[string]string, facts map[string]any) (*Host, error) {
	e := r.Environments[env]
	if e == nil {
		return nil, hint.Wrap(fmt.Errorf("unknown environment %q", env),
			"environments: "+strings.Join(r.EnvironmentNames(), ", "))
	}
	h := e.Host(host)
	if h == nil {
		var names []string
		for _, x := range e.Hosts {
			names = append(names, x.Name)
		}
		return nil, hint.Wrap(fmt.Errorf("environment %s: unknown host %q", env, host),
			"hosts of "+env+": "+strings.Join(names, ", "))
	}
	out := &Host{
		Env: env, Name: h.Name, Address: h.Address, Addresses: h.Addresses, SSH: h.SSH,
		Provider: h.Provider, Location: h.Location, Kind: h.Kind, Arch: h.Arch,
		Roles: r.expand(h.Roles), Secrets: e.Secrets, RemoveUnmanagedPackages: r.RemoveUnmanagedPackages,
	}
	out.Vars = r.mergeVars(e, h, out.Roles)
	c := r.newCompiler(e, h, out.Roles, secrets)
	if facts != nil {
		c.data["facts"] = facts
	}
	for _, role := range out.Roles {
		if !c.roleHolds(r.Roles[role]) {
			for _, d := range r.Roles[role].Handlers {
				out.Handlers = c.handler(out.Handlers, d)
			}
			continue
		}
		for _, d := range r.Roles[role].Resources {
			for _, res := range c.declare(d) {
				if res.Kind == KindTunnel {
					c.serverSide(res)
				}
				out.Resources = append(out.Resources, res)
			}
		}
		for _, d := range r.Roles[role].Handlers {
			out.Handlers = c.handler(out.Handlers, d)
		}
	}
	out.Resources = append(out.Resources, c.clientSides(secrets)...)
	out.Resources = c.firewall(out)
	if len(c.errs) == 0 {
		c.crossCheck(out.Resources)
	}
	if len(c.errs) == 0 {
		out.Resources = c.order(out.Resources, out.Handlers)
	}
	if err := c.errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// newCompiler returns the compiler of host h of environment e, whose
// expanded roles are roles: the data its templates see.
func (r *Repo) newCompiler(e *Environment, h *HostDecl, roles []string, secrets map[string]string) *compiler {
	c := &compiler{repo: r, env: e, host: h, secrets: secrets}
	vars := r.mergeVars(e, h, roles)
	c.data = map[string]any{}
	for k, v := range vars {
		c.data[k] = v.Value
	}
	for _, s := range e.Secrets {
		v, ok := secrets[s.Secret]
		switch {
		case secrets == nil:
			v = SecretPlaceholder(s.Secret)
		case !ok:
			c.errs.add(s.Pos, "secret %s (variable %s) has no value in the secrets of environment %s", s.Secret, s.Var, e.Name)
			v = SecretPlaceholder(s.Secret) // reported once, here, not at each use
		}
		c.data[s.Var] = v
		if v != "" {
			c.secretValues = append(c.secretValues, v)
		}
	}
	c.data["env"] = map[string]any{"name": e.Name}
	c.data["facts"] = PlaceholderFacts()
	addrs := map[string]any{}
	for k, v := range h.Addresses {
		addrs[k] = v
	}
	groups := []any{}
	for _, g := range e.GroupsOf(h.Name) {
		groups = append(groups, g)
	}
	rs := make([]any, len(roles))
	for i, x := range roles {
		rs[i] = x
	}
	c.data["host"] = map[string]any{
		"name": h.Name, "address": h.Address, "addresses": addrs, "provider": h.Provider,
		"location": h.Location, "kind": h.Kind, "arch": h.Arch, "roles": rs, "groups": groups,
	}
	return c
}

// mergeVars merges variables, lowest precedence first: role defaults in role
// order (a required role's below the role requiring it), tend.yaml, the
// environment, the host. Secrets come on top, in Compile.
func (r *Repo) mergeVars(e *Environment, h *HostDecl, roles []string) Vars {
	out := Vars{}
	layers := []Vars{}
	for _, role := range roles {
		layers = append(layers, r.Roles[role].Vars)
	}
	layers = append(layers, r.Vars, e.Vars, h.Vars)
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	for _, s := range e.Secrets {
		delete(out, s.Var)
	}
	return out
}

type compiler struct {
	repo         *Repo
	env          *Environment
	host         *HostDecl
	data         map[string]any
	secretValues []string
	secrets      map[string]string // by secret name; nil when Compile has none
	errs         ErrorList
	item         string // the for_each item being rendered, for errors
}

// declare compiles declaration d on the host: once, or once per item of
// its for_each variable with .item set, each only where its when holds.
func (c *compiler) declare(d *Resource) []*Resource {
	if d.ForEach == "" {
		if !c.holds(d) {
			return nil
		}
		if r := c.resource(d); r != nil {
			return []*Resource{r}
		}
		return nil
	}
	v, ok := c.data[d.ForEach]
	if !ok {
		c.errs.add(d.forEachPos, "%s %s: for_each: no variable %s (%s)", d.Kind, d.Name, d.ForEach, c.where())
		return nil
	}
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		for _, k := range keys {
			items = append(items, map[string]any{"key": k, "value": x[k]})
		}
	default:
		c.errs.add(d.forEachPos, "%s %s: for_each: variable %s is a %s, not a list or a mapping (%s)", d.Kind, d.Name, d.ForEach, typeName(v), c.where())
		return nil
	}
	defer func() { delete(c.data, "item"); c.item = "" }()
	var out []*Resource
	for i, it := range items {
		c.data["item"], c.item = it, fmt.Sprintf("item %d of %s", i, d.ForEach)
		if !c.holds(d) {
			continue
		}
		if r := c.resource(d); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// roleHolds evaluates a role's when for the host: true when it has none.
func (c *compiler) roleHolds(role *Role) bool {
	if role.When == "" || role.When == "true" {
		return true
	}
	t := c.repo.inline[role.whenNode]
	if t == nil {
		return role.When != "false"
	}
	var b strings.Builder
	if err := c.execute(t, &b); err != nil {
		p, msg := templateErrPos(err)
		c.errs.add(inlinePos(role.src, role.whenNode, p), "role %s: when: %s (%s)", role.Name, msg, c.where())
		return false
	}
	switch v := strings.TrimSpace(b.String()); v {
	case "true":
		return true
	case "false", "":
		return false
	default:
		c.errs.add(role.src.pos(role.whenNode), "role %s: when renders to %q, not true or false (%s)", role.Name, v, c.where())
		return false
	}
}

// holds evaluates d's when for the host (and item): true when it has
// none.
func (c *compiler) holds(d *Resource) bool {
	if d.When == "" {
		return true
	}
	v := strings.TrimSpace(c.render(d, "when", d.When, fmt.Sprintf("%s %s: when", d.Kind, d.Name)))
	switch v {
	case "true":
		return true
	case "false", "":
		return false
	}
	c.errs.add(d.fieldPos("when"), "%s %s: when renders to %q, not true or false (%s)", d.Kind, d.Name, v, c.where())
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int, int64, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func (c *compiler) where() string {
	w := "host " + c.env.Name + "/" + c.host.Name
	if c.item != "" {
		w += ", " + c.item
	}
	return w
}

// render renders the string held by node key of d, or returns it unchanged
// when it holds no template action.
func (c *compiler) render(d *Resource, key, text, what string) string {
	n := d.nodes[key]
	t := c.repo.inline[n]
	if t == nil || n == nil {
		return text
	}
	var b strings.Builder
	if err := c.execute(t, &b); err != nil {
		p, msg := templateErrPos(err)
		c.errs.add(inlinePos(d.src, n, p), "%s: %s (%s)", what, msg, c.where())
		return text
	}
	return b.String()
}

// renderFile renders a template file of role.
func (c *compiler) renderFile(d *Resource, role, rel, field string) (string, bool) {
	t := c.repo.files[role][rel]
	if t == nil {
		c.errs.add(d.fieldPos(field), "%s %s: %s: no file %s/templates/%s (%s)", d.Kind, d.Name, field, c.repo.roleDir(role), rel, c.where())
		return "", false
	}
	var b strings.Builder
	if err := c.execute(t, &b); err != nil {
		p, msg := templateErrPos(err)
		c.errs.add(Pos{File: t.Name(), Line: p.Line, Col: p.Col}, "%s (%s %s, %s)", msg, d.Kind, d.Name, c.where())
		return "", false
	}
	return b.String(), true
}

func (c *compiler) resource(d *Resource) *Resource {
	before := len(c.errs)
	r := &Resource{Kind: d.Kind, Role: d.Role, Pos: d.Pos, src: d.src, nodes: d.nodes, State: d.State, DeleteData: d.DeleteData, Tags: d.Tags, Spec: cloneSpec(d.Spec)}
	r.Name = c.render(d, "", d.Name, fmt.Sprintf("%s %s", d.Kind, d.Name))
	r.ID = string(r.Kind) + ":" + r.Name
	what := fmt.Sprintf("%s %s", d.Kind, d.Name)
	for i, s := range d.Requires {
		r.Requires = append(r.Requires, c.render(d, fmt.Sprintf("requires[%d]", i), s, what+": requires"))
	}
	for i, s := range d.Notify {
		r.Notify = append(r.Notify, c.render(d, fmt.Sprintf("notify[%d]", i), s, what+": notify"))
	}
	eachString(r.Spec, func(key string, p *string) {
		*p = c.render(d, key, *p, what+": "+key)
	})
	if len(c.errs) > before {
		return nil
	}
	for _, ref := range fileRefsOf(r.Spec) {
		switch {
		case ref.path == "":
		case ref.dir == "templates":
			*ref.into, _ = c.renderFile(d, r.Role, ref.path, ref.field)
		default:
			data, err := os.ReadFile(filepath.Join(c.repo.Dir, c.repo.roleDir(r.Role), ref.dir, filepath.FromSlash(ref.path)))
			if err != nil {
				c.errs.add(d.fieldPos(ref.field), "%s %s: %s: cannot read %s/%s/%s: %v (%s)", d.Kind, d.Name, ref.field, c.repo.roleDir(r.Role), ref.dir, ref.path, errors.Unwrap(err), c.where())
			}
			*ref.into = string(data)
		}
	}
	(&checker{r: r, errs: &c.errs}).check()
	// Snapshots record the host's name, and its host key is bound to it
	// (see package snapkey): it must be a host name.
	if _, ok := r.Spec.(*FileBackup); ok {
		if err := snapkey.CheckHostName(c.host.Name); err != nil {
			c.errs.add(d.Pos, "%s: snapshots record the host's name, and %v; rename the host, or back its files up from another host (%s)", what, err, c.where())
		}
	}
	if rs, ok := r.Spec.(resolver); ok && len(c.errs) == before && r.State != StateAbsent {
		rs.resolve(c, r)
	}
	if len(c.errs) > before {
		return nil
	}
	for _, v := range c.secretValues {
		eachString(r.Spec, func(_ string, p *string) {
			if strings.Contains(*p, v) {
				r.Sensitive = true
			}
		})
	}
	// A file holding a secret is readable by its owner only, unless the
	// spec says otherwise.
	if f, ok := r.Spec.(*File); ok && r.Sensitive && d.nodes["mode"] == nil {
		f.Mode = "0600"
	}
	return r
}

func (c *compiler) handler(hs []*Handler, d *Handler) []*Handler {
	h := *d
	if t := c.repo.inline[d.node]; t != nil {
		var b strings.Builder
		if err := c.execute(t, &b); err != nil {
			p, msg := templateErrPos(err)
			c.errs.add(inlinePos(d.src, d.node, p), "handler %s: service: %s (%s)", d.Name, msg, c.where())
			return hs
		}
		h.Service = b.String()
	}
	if t := c.repo.inline[d.cmd]; t != nil {
		var b strings.Builder
		if err := c.execute(t, &b); err != nil {
			p, msg := templateErrPos(err)
			c.errs.add(inlinePos(d.src, d.cmd, p), "handler %s: command: %s (%s)", d.Name, msg, c.where())
			return hs
		}
		h.Command = b.String()
	}
	for _, v := range c.secretValues {
		if h.Command != "" && strings.Contains(h.Command, v) {
			c.errs.add(inlinePos(d.src, d.cmd, Pos{}), "handler %s: command holds a secret value: it would be in the host's process list; give the secret to the command in a file (an envdir, a file resource with mode 0600) (%s)", d.Name, c.where())
			return hs
		}
	}
	for _, prev := range hs {
		if prev.Name == h.Name {
			if prev.Service != h.Service || prev.Action != h.Action || prev.Command != h.Command {
				c.errs.add(h.Pos, "handler %s conflicts with the handler of the same name at %s (%s)", h.Name, prev.Pos, c.where())
			}
			return hs
		}
	}
	return append(hs, &h)
}

// order checks ids, requires and notify after rendering, and sorts the
// resources so that each comes after what it requires, keeping role and
// declaration order otherwise.
func (c *compiler) order(rs []*Resource, hs []*Handler) []*Resource {
	byID := map[string]*Resource{}
	for _, r := range rs {
		if prev := byID[r.ID]; prev != nil {
			c.errs.add(r.Pos, "duplicate resource %s: also declared at %s (%s)", r.ID, prev.Pos, c.where())
			continue
		}
		byID[r.ID] = r
	}
	handlers := map[string]bool{}
	for _, h := range hs {
		handlers[h.Name] = true
	}
	for _, r := range rs {
		for i, req := range r.Requires {
			if byID[req] == nil {
				c.errs.add(r.fieldPos(fmt.Sprintf("requires[%d]", i)), "%s %s: requires %s, which no role of the host declares (%s)", r.Kind, r.Name, req, c.where())
			}
		}
		for i, n := range r.Notify {
			if !handlers[n] {
				c.errs.add(r.fieldPos(fmt.Sprintf("notify[%d]", i)), "%s %s: notify: no handler %q on the host (%s)", r.Kind, r.Name, n, c.where())
			}
		}
	}
	if len(c.errs) > 0 {
		return rs
	}
	placed := map[string]bool{}
	out := make([]*Resource, 0, len(rs))
	rest := slices.Clone(rs)
	for len(rest) > 0 {
		i := slices.IndexFunc(rest, func(r *Resource) bool {
			for _, req := range r.Requires {
				if !placed[req] {
					return false
				}
			}
			return true
		})
		if i < 0 {
			c.cycle(rest, byID, placed)
			return rs
		}
		placed[rest[i].ID] = true
		out = append(out, rest[i])
		rest = slices.Delete(rest, i, i+1)
	}
	return out
}

// cycle reports one cycle of requires among the resources not placed.
func (c *compiler) cycle(rest []*Resource, byID map[string]*Resource, placed map[string]bool) {
	r := rest[0]
	var path []*Resource
	for !slices.Contains(path, r) {
		path = append(path, r)
		for _, req := range r.Requires {
			if !placed[req] {
				r = byID[req]
				break
			}
		}
	}
	path = path[slices.Index(path, r):]
	var ids []string
	for _, x := range path {
		ids = append(ids, x.ID)
	}
	ids = append(ids, r.ID)
	last := path[len(path)-1]
	j := slices.Index(last.Requires, r.ID)
	c.errs.add(last.fieldPos(fmt.Sprintf("requires[%d]", j)), "requires cycle: %s (%s)", strings.Join(ids, " -> "), c.where())
}
