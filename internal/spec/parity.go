package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Difference is one way two environments differ. Secret values are never
// compared nor shown: only which secrets exist.
type Difference struct {
	Path    string  `json:"path"`    // what differs, e.g. hosts.web.kind or hosts.web.vars.server_name
	A       *string `json:"a"`       // the value in the first environment; nil when absent
	B       *string `json:"b"`       // the value in the second environment; nil when absent
	Allowed bool    `json:"allowed"` // whether the spec allows this difference
	Reason  string  `json:"reason"`  // why it is allowed, or why not
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
	return fmt.Sprintf("%q: a path starts with vars., secrets. or hosts.", p)
}

// Parity compares environments a and b: their hosts (matched through like,
// else by name), each host's roles, merged variables and descriptive data,
// and the names of their secrets. Host names, addresses and SSH settings
// may differ by default; so may what either environment lists in
// may_differ. The differences come sorted by path.
func Parity(r *Repo, a, b string) ([]Difference, error) {
	ea, eb := r.Environments[a], r.Environments[b]
	for _, n := range []string{a, b} {
		if r.Environments[n] == nil {
			return nil, fmt.Errorf("unknown environment %q (environments: %s)", n, strings.Join(r.EnvironmentNames(), ", "))
		}
	}
	p := &parity{rules: append(slices.Clone(ea.MayDiffer), eb.MayDiffer...)}

	// Pair hosts: the environment declaring like names its model's hosts.
	match := func(copy, model *Environment, h *HostDecl) *HostDecl {
		if copy.Like == model.Name && h.Like != "" {
			return model.Host(h.Like)
		}
		return model.Host(h.Name)
	}
	pairedB := map[*HostDecl]bool{}
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
			p.add([]string{"hosts." + ha.Name}, str("present"), nil, "")
			continue
		}
		pairedB[hb] = true
		p.hosts(r, ea, eb, ha, hb)
	}
	for _, hb := range eb.Hosts {
		if !pairedB[hb] {
			p.add([]string{"hosts." + hb.Name}, nil, str("present"), "")
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
		if s := ea.Secret(n); s != nil {
			va = str(s.Secret)
		}
		if s := eb.Secret(n); s != nil {
			vb = str(s.Secret)
		}
		if !eq(va, vb) {
			p.add([]string{"secrets." + n}, va, vb, "")
		}
	}
	slices.SortStableFunc(p.out, func(x, y Difference) int { return strings.Compare(x.Path, y.Path) })
	return p.out, nil
}

type parity struct {
	rules []PathRule
	out   []Difference
}

// add records a difference; paths are the names it can be matched by (the
// first is shown), def the default reason it is allowed, or "".
func (p *parity) add(paths []string, a, b *string, def string) {
	d := Difference{Path: paths[0], A: a, B: b, Allowed: def != "", Reason: def}
	if !d.Allowed {
		d.Reason = "not declared in may_differ"
		for _, r := range p.rules {
			if slices.ContainsFunc(paths, func(x string) bool { return ruleMatches(r.Path, x) }) {
				d.Allowed, d.Reason = true, fmt.Sprintf("may_differ %s (%s)", r.Path, r.Pos)
				break
			}
		}
	}
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

func (p *parity) hosts(r *Repo, ea, eb *Environment, ha, hb *HostDecl) {
	// at builds the names a difference of field sub can be matched by: by
	// either host's name.
	at := func(field string) []string {
		out := []string{"hosts." + ha.Name + "." + field}
		if hb.Name != ha.Name {
			out = append(out, "hosts."+hb.Name+"."+field)
		}
		return out
	}
	if ha.Name != hb.Name {
		p.add(at("name"), str(ha.Name), str(hb.Name), "host names may differ")
	}
	cmpStr := func(field, va, vb, def string) {
		if va != vb {
			p.add(at(field), str(va), str(vb), def)
		}
	}
	cmpStr("address", ha.Address, hb.Address, "addresses may differ")
	for _, k := range sortedKeys(union(ha.Addresses, hb.Addresses)) {
		va, oka := ha.Addresses[k]
		vb, okb := hb.Addresses[k]
		if va != vb || oka != okb {
			p.add(at("addresses."+k), opt(va, oka), opt(vb, okb), "addresses may differ")
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
		p.add(append(at("vars."+k), "vars."+k), sa, sb, "")
	}
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
