package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Difference is one way two environments differ. Secret values are never
// compared nor shown: only which secrets exist.
type Difference struct {
	Path    string  `json:"path"`           // what differs, e.g. hosts.web.kind or hosts.web.resources.package:nginx
	A       *string `json:"a"`              // the value in the first environment; nil when absent
	B       *string `json:"b"`              // the value in the second environment; nil when absent
	Line    int     `json:"line,omitempty"` // for a multi-line value: the first line that differs, which A and B then hold
	Allowed bool    `json:"allowed"`        // whether the spec allows this difference
	Reason  string  `json:"reason"`         // why it is allowed, or why not
	At      string  `json:"at,omitempty"`   // Pos as file:line:col
	Pos     Pos     `json:"-"`              // where the spec causes the difference: the variable, host, secret mapping or resource field
}

// hostFieldsOf are the host fields a may_differ path can name after
// hosts.NAME, and whether they take one more segment.
var hostFieldsOf = map[string]bool{
	"roles": false, "provider": false, "location": false, "kind": false, "arch": false,
	"vars": true, "address": false, "addresses": true, "ssh": true, "name": false,
}

// checkRule returns why a may_differ path is invalid, or "".
func checkRule(p string) string {
	seg := strings.Split(p, ".")
	switch seg[0] {
	case "vars", "secrets":
		if len(seg) != 2 || !(seg[1] == "*" || varRE.MatchString(seg[1])) {
			return fmt.Sprintf("%q: expected %s.NAME", p, seg[0])
		}
		return ""
	case "resources":
		kind, name, ok := strings.Cut(strings.TrimPrefix(p, "resources."), ":")
		if !ok || name == "" || kinds()[Kind(kind)] == nil {
			return fmt.Sprintf("%q: expected resources.KIND:NAME, a resource id such as resources.file:/etc/motd", p)
		}
		return ""
	case "hosts":
		if len(seg) < 2 || !(seg[1] == "*" || nameRE.MatchString(seg[1])) {
			return fmt.Sprintf("%q: expected hosts.HOST[.FIELD]", p)
		}
		if len(seg) == 2 {
			return ""
		}
		sub, ok := hostFieldsOf[seg[2]]
		if !ok {
			var fields []string
			for f := range hostFieldsOf {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			return fmt.Sprintf("%q: unknown host field %q (fields: %s)", p, seg[2], strings.Join(fields, ", "))
		}
		if len(seg) > 4 || len(seg) == 4 && (!sub || seg[3] == "") {
			return fmt.Sprintf("%q: too many segments after hosts.%s.%s", p, seg[1], seg[2])
		}
		return ""
	}
	return fmt.Sprintf("%q: a path starts with vars., secrets., hosts. or resources.", p)
}

// Parity compares environments a and b: their hosts (matched through like,
// else by name), each host's roles, merged variables and descriptive data,
// the names of their secrets, and what is really applied: each pair of
// hosts compiled (without secrets, so secret values are never compared),
// resource by resource and field by field, and their handlers. Host names,
// addresses and SSH settings may differ by default; so may what either
// environment lists in may_differ, and what follows from those differences
// only (see parity.compiled). The differences come sorted by path. A repository
// that does not compile returns its ErrorList.
func Parity(r *Repo, a, b string) ([]Difference, error) {
	ea, eb := r.Environments[a], r.Environments[b]
	for _, n := range []string{a, b} {
		if r.Environments[n] == nil {
			return nil, fmt.Errorf("unknown environment %q (environments: %s)", n, strings.Join(r.EnvironmentNames(), ", "))
		}
	}
	p := &parity{rules: append(slices.Clone(ea.MayDiffer), eb.MayDiffer...), copyIsB: eb.Like == a}

	// Pair hosts: the environment declaring like names its model's hosts.
	match := func(copy, model *Environment, h *HostDecl) *HostDecl {
		if copy.Like == model.Name && h.Like != "" {
			return model.Host(h.Like)
		}
		return model.Host(h.Name)
	}
	pairedB := map[*HostDecl]bool{}
	var errs ErrorList
	for _, ha := range ea.Hosts {
		var hb *HostDecl
		if eb.Like == a {
			for _, x := range eb.Hosts {
				if match(eb, ea, x) == ha {
					hb = x
				}
			}
		} else {
			hb = match(ea, eb, ha)
		}
		if hb == nil || pairedB[hb] {
			p.add([]string{"hosts." + ha.Name}, str("present"), nil, "", ha.Pos)
			continue
		}
		pairedB[hb] = true
		p.hosts(r, ea, eb, ha, hb)
		if err := p.compiled(r, ea, eb, ha, hb); err != nil {
			var l ErrorList
			if !errors.As(err, &l) {
				return nil, err
			}
			errs = append(errs, l...)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	for _, hb := range eb.Hosts {
		if !pairedB[hb] {
			p.add([]string{"hosts." + hb.Name}, nil, str("present"), "", hb.Pos)
		}
	}

	// Secrets: names only.
	names := map[string]bool{}
	for _, s := range ea.Secrets {
		names[s.Var] = true
	}
	for _, s := range eb.Secrets {
		names[s.Var] = true
	}
	for _, n := range sortedKeys(names) {
		var va, vb *string
		var pa, pb Pos
		if s := ea.Secret(n); s != nil {
			va, pa = str(s.Secret), s.Pos
		}
		if s := eb.Secret(n); s != nil {
			vb, pb = str(s.Secret), s.Pos
		}
		if !eq(va, vb) {
			p.add([]string{"secrets." + n}, va, vb, "", p.pick(pa, pb))
		}
	}
	slices.SortStableFunc(p.out, func(x, y Difference) int { return strings.Compare(x.Path, y.Path) })
	return p.out, nil
}

type parity struct {
	rules   []PathRule
	copyIsB bool // b is declared like a: its positions are shown first
	out     []Difference
}

// pick returns the position on the side of the environment declared like
// the other (where a user fixes or allows a difference), else the other.
func (p *parity) pick(pa, pb Pos) Pos {
	if p.copyIsB {
		pa, pb = pb, pa
	}
	if pa.File != "" {
		return pa
	}
	return pb
}

// allowedBy returns the first may_differ rule matching one of paths (by
// ruleMatches) or, when id is not "", naming the resource id exactly as
// resources.ID (ids hold dots, so they are not split into segments).
func (p *parity) allowedBy(paths []string, id string) *PathRule {
	for i, r := range p.rules {
		if id != "" && r.Path == "resources."+id ||
			!strings.HasPrefix(r.Path, "resources.") && slices.ContainsFunc(paths, func(x string) bool { return ruleMatches(r.Path, x) }) {
			return &p.rules[i]
		}
	}
	return nil
}

// add records a difference; paths are the names it can be matched by (the
// first is shown), def the default reason it is allowed, or "".
func (p *parity) add(paths []string, a, b *string, def string, pos Pos) {
	p.addDiff(Difference{Path: paths[0], A: a, B: b, Pos: pos}, paths, "", def)
}

// addDiff records d, allowed by default when def is not "", else when a
// may_differ rule matches paths or names the resource id.
func (p *parity) addDiff(d Difference, paths []string, id, def string) {
	d.Allowed, d.Reason = def != "", def
	if !d.Allowed {
		d.Reason = "not declared in may_differ"
		if r := p.allowedBy(paths, id); r != nil {
			d.Allowed, d.Reason = true, fmt.Sprintf("may_differ %s (%s)", r.Path, r.Pos)
		}
	}
	d.At = d.Pos.String()
	p.out = append(p.out, d)
}

// ruleMatches reports whether rule names path or a prefix of it, segment by
// segment, "*" matching any one segment.
func ruleMatches(rule, path string) bool {
	rs, ps := strings.Split(rule, "."), strings.Split(path, ".")
	if len(rs) > len(ps) {
		return false
	}
	for i, r := range rs {
		if r != "*" && r != ps[i] {
			return false
		}
	}
	return true
}

// at builds the names a difference of a field of the pair ha, hb can be
// matched by: by either host's name.
func at(ha, hb *HostDecl, field string) []string {
	out := []string{"hosts." + ha.Name + "." + field}
	if hb.Name != ha.Name {
		out = append(out, "hosts."+hb.Name+"."+field)
	}
	return out
}

func (p *parity) hosts(r *Repo, ea, eb *Environment, ha, hb *HostDecl) {
	hostPos := p.pick(ha.Pos, hb.Pos)
	if ha.Name != hb.Name {
		p.add(at(ha, hb, "name"), str(ha.Name), str(hb.Name), "host names may differ", hostPos)
	}
	cmpStr := func(field, va, vb, def string) {
		if va != vb {
			p.add(at(ha, hb, field), str(va), str(vb), def, hostPos)
		}
	}
	cmpStr("address", ha.Address, hb.Address, "addresses may differ")
	for _, k := range sortedKeys(union(ha.Addresses, hb.Addresses)) {
		va, oka := ha.Addresses[k]
		vb, okb := hb.Addresses[k]
		if va != vb || oka != okb {
			p.add(at(ha, hb, "addresses."+k), opt(va, oka), opt(vb, okb), "addresses may differ", hostPos)
		}
	}
	cmpStr("ssh.user", ha.SSH.User, hb.SSH.User, "ssh settings may differ")
	cmpStr("ssh.port", strconv.Itoa(ha.SSH.Port), strconv.Itoa(hb.SSH.Port), "ssh settings may differ")
	cmpStr("provider", ha.Provider, hb.Provider, "")
	cmpStr("location", ha.Location, hb.Location, "")
	cmpStr("kind", ha.Kind, hb.Kind, "")
	cmpStr("arch", ha.Arch, hb.Arch, "")
	ra, rb := r.expand(ha.Roles), r.expand(hb.Roles)
	cmpStr("roles", strings.Join(ra, ", "), strings.Join(rb, ", "), "")

	va, vb := r.mergeVars(ea, ha, ra), r.mergeVars(eb, hb, rb)
	for _, k := range sortedKeys(union(va, vb)) {
		xa, oka := va[k]
		xb, okb := vb[k]
		if oka && okb && reflect.DeepEqual(xa.Value, xb.Value) {
			continue
		}
		var sa, sb *string
		if oka {
			sa = str(show(xa.Value))
		}
		if okb {
			sb = str(show(xb.Value))
		}
		// A secret in one environment and a plain variable in the other
		// shows as a secret difference; the plain value is not hidden.
		p.add(varPaths(ha, hb, k), sa, sb, "", p.pick(xa.Pos, xb.Pos))
	}
}

// varPaths are the names a difference of variable k can be matched by.
func varPaths(ha, hb *HostDecl, k string) []string {
	return append(at(ha, hb, "vars."+k), "vars."+k)
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func str(s string) *string { return &s }

func opt(s string, ok bool) *string {
	if !ok {
		return nil
	}
	return &s
}

func eq(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func union[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
