package spec

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"tend/internal/hint"
)

// compiled compares what is really applied on the pair of hosts ha (of
// ea) and hb (of eb): their compiled resources, by id then field, and their
// handlers, by name then field.
//
// A difference there is allowed when it follows only from differences the
// spec allows (host names, addresses, what may_differ lists): a file
// rendering vars.server_name differs whenever server_name does. To tell
// these apart, hb is compiled twice: as it is (B), and "neutralised" (N),
// with ha's values in place of each of its inputs that may differ (name,
// addresses, the variables, host fields, roles and secret names that
// may_differ allows). N differs from ha only by inputs that may not differ,
// among them the environment's name (.env.name can never be neutralised: it
// is what a user tests to make an environment unlike its model). So a field
// that differs between ha and N would still differ without the allowed
// differences: it is reported, not allowed unless a resources.ID rule (or a
// rule naming the whole host) allows it. A field that differs between ha
// and B but not N follows from allowed differences alone; the input
// difference is reported already (with its reason), so it is not repeated.
// A field is reported only when it differs in both B and N: what is
// reported is always a real difference in what is applied, shown with B's
// value, and at the position of the resource field in the spec.
func (p *parity) compiled(r *Repo, ea, eb *Environment, ha, hb *HostDecl) error {
	a, err := r.Compile(ea.Name, ha.Name, nil)
	if err != nil {
		return err
	}
	b, err := r.Compile(eb.Name, hb.Name, nil)
	if err != nil {
		return err
	}
	nr := p.neutral(r, ea, eb, ha, hb)
	n, err := nr.Compile(eb.Name, ha.Name, nil)
	if err != nil {
		// N mixes both sides' inputs, so it can fail where neither side
		// does: only when an input that may not differ does differ (a
		// variable an allowed role needs is missing), which is reported.
		p.add(at(ha, hb, "resources"), nil, nil, "", p.pick(ha.Pos, hb.Pos))
		if d := &p.out[len(p.out)-1]; !d.Allowed {
			d.Reason = "cannot compare the resources: with the allowed values of " + ea.Name + " the host does not compile: " + firstLine(err)
		}
		return nil
	}
	hostPaths := func(field string) []string { return at(ha, hb, field) }

	aByID, bByID, nByID := byID(a.Resources), byID(b.Resources), byID(n.Resources)
	bByPos := map[Pos]*Resource{}
	for _, x := range b.Resources {
		bByPos[x.Pos] = x
	}
	for _, ra := range a.Resources {
		rn := nByID[ra.ID]
		if rn == nil {
			if bByID[ra.ID] == nil {
				p.addDiff(Difference{Path: hostPaths("resources." + ra.ID)[0], A: str("present"), Pos: ra.Pos},
					hostPaths("resources."+ra.ID), ra.ID, "")
			}
			continue
		}
		// The same declaration in B; none when the roles may differ and
		// B lacks the role declaring it (then the difference is allowed).
		rb := bByPos[rn.Pos]
		if rb == nil {
			continue
		}
		fa, fn, fb := fieldsOf(ra), fieldsOf(rn), fieldsOf(rb)
		for _, k := range fieldKeys(fa, fn) {
			if eq(fa[k], fn[k]) || eq(fa[k], fb[k]) {
				continue
			}
			d := Difference{Path: hostPaths("resources." + ra.ID + "." + k)[0], A: fa[k], B: fb[k], Pos: fieldPosOf(rn, k)}
			firstDiffLine(&d, fn[k])
			p.addDiff(d, hostPaths("resources."+ra.ID+"."+k), ra.ID, "")
		}
	}
	for _, rn := range n.Resources {
		if aByID[rn.ID] != nil {
			continue
		}
		rb := bByPos[rn.Pos]
		if rb == nil || aByID[rb.ID] != nil {
			continue
		}
		p.addDiff(Difference{Path: hostPaths("resources." + rb.ID)[0], B: str("present"), Pos: rb.Pos},
			hostPaths("resources."+rb.ID), rb.ID, "")
	}

	// Handlers, by name (a name is never a template).
	hByName := func(hs []*Handler) map[string]*Handler {
		out := map[string]*Handler{}
		for _, h := range hs {
			out[h.Name] = h
		}
		return out
	}
	aH, bH, nH := hByName(a.Handlers), hByName(b.Handlers), hByName(n.Handlers)
	names := map[string]bool{}
	for k := range aH {
		names[k] = true
	}
	for k := range nH {
		names[k] = true
	}
	for _, name := range sortedKeys(names) {
		fa, fn, fb := handlerValues(aH[name]), handlerValues(nH[name]), handlerValues(bH[name])
		pos := p.pick(handlerPos(aH[name]), handlerPos(nH[name]))
		for _, k := range []string{"", "service", "action"} {
			if eq(fa[k], fn[k]) || eq(fa[k], fb[k]) {
				continue
			}
			path := "handlers." + name
			if k != "" {
				path += "." + k
			}
			p.add(hostPaths(path), fa[k], fb[k], "", pos)
			if k == "" {
				break // present on one side only: its fields are not compared
			}
		}
	}
	return nil
}

// neutral returns a copy of r in which environment eb holds one host, hb
// renamed ha.Name, with ha's value for each input that may differ; the
// environment keeps its name. See compiled.
func (p *parity) neutral(r *Repo, ea, eb *Environment, ha, hb *HostDecl) *Repo {
	allowed := func(field string) bool { return p.allowedBy(at(ha, hb, field), "") != nil }
	h := *hb
	h.Name, h.Address, h.Addresses, h.SSH = ha.Name, ha.Address, ha.Addresses, ha.SSH
	for _, f := range []struct {
		name   string
		to, at *string
	}{
		{"provider", &h.Provider, &ha.Provider},
		{"location", &h.Location, &ha.Location},
		{"kind", &h.Kind, &ha.Kind},
		{"arch", &h.Arch, &ha.Arch},
	} {
		if allowed(f.name) {
			*f.to = *f.at
		}
	}
	if allowed("roles") {
		h.Roles, h.rolePos = ha.Roles, ha.rolePos
	}

	e := *eb
	// The host first, then the environment's others, which a resource may
	// name (a site's upstream host:NAME:PORT, a firewall's role:NAME
	// source). Each other host has its counterpart's addresses (its like:,
	// else the host of the same name): addresses differ between
	// environments by design, and what a host's resources derive from
	// another's must not count as a difference.
	e.Hosts = []*HostDecl{&h}
	for _, o := range eb.Hosts {
		if o == hb {
			continue
		}
		oc := *o
		if cp := counterpart(ea, o); cp != nil {
			oc.Address, oc.Addresses = cp.Address, cp.Addresses
		}
		e.Hosts = append(e.Hosts, &oc)
	}
	e.Secrets = slices.Clone(eb.Secrets)
	for i, s := range e.Secrets {
		if sa := ea.Secret(s.Var); sa != nil && p.allowedBy([]string{"secrets." + s.Var}, "") != nil {
			e.Secrets[i].Secret = sa.Secret
		}
	}
	// Variables go on top, as host variables. One ha lacks stays as it
	// is: no template of ha uses it (it would not compile).
	va := r.mergeVars(ea, ha, r.expand(ha.Roles))
	vn := r.mergeVars(&e, &h, r.expand(h.Roles))
	h.Vars = maps.Clone(hb.Vars)
	if h.Vars == nil {
		h.Vars = Vars{}
	}
	for k, x := range va {
		if y, ok := vn[k]; ok && reflect.DeepEqual(x.Value, y.Value) {
			continue
		}
		if p.allowedBy(varPaths(ha, hb, k), "") != nil {
			h.Vars[k] = x
		}
	}

	nr := *r
	nr.Environments = maps.Clone(r.Environments)
	nr.Environments[eb.Name] = &e
	return &nr
}

// counterpart returns the host of e matching o of the other environment:
// the one o is like, the one like o, or the one of the same name.
func counterpart(e *Environment, o *HostDecl) *HostDecl {
	if o.Like != "" {
		if h := e.Host(o.Like); h != nil {
			return h
		}
	}
	for _, h := range e.Hosts {
		if h.Like == o.Name {
			return h
		}
	}
	return e.Host(o.Name)
}

func byID(rs []*Resource) map[string]*Resource {
	out := map[string]*Resource{}
	for _, x := range rs {
		out[x.ID] = x
	}
	return out
}

// fieldsOf returns what parity compares of a compiled resource: each field
// of its kind's spec by YAML name (a map field one entry per key, as
// field.key), requires and notify; nil when unset (a nil *bool or *int, a
// map key absent). A file's template or source, and a service's
// unit_template, are left out: their rendered text is in content and unit.
func fieldsOf(r *Resource) map[string]*string {
	out := map[string]*string{}
	v := reflect.ValueOf(r.Spec).Elem()
	t := v.Type()
	refs := fileRefsOf(r.Spec)
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "-" {
			continue // filled per host by Compile (a tunnel's peers), not declared
		}
		// what a file reference filled is compared, not the file's name
		if slices.ContainsFunc(refs, func(f fileRef) bool { return f.field == tag }) {
			continue
		}
		// what Compile derives (a site's resolved upstream addresses)
		// follows from inputs compared elsewhere
		if tag == "-" {
			continue
		}
		switch x := v.Field(i).Interface().(type) {
		case string:
			out[tag] = str(x)
		case bool:
			out[tag] = str(strconv.FormatBool(x))
		case int:
			out[tag] = str(strconv.Itoa(x))
		case *bool:
			if x != nil {
				out[tag] = str(strconv.FormatBool(*x))
			}
		case *int:
			if x != nil {
				out[tag] = str(strconv.Itoa(*x))
			}
		case []string:
			out[tag] = str(jsonList(x))
		case map[string]string:
			for k, s := range x {
				out[tag+"."+k] = str(s)
			}
		default:
			// a nested mapping or list of them (a site's tls, locations),
			// compared whole
			if k := v.Field(i).Kind(); k != reflect.Struct && k != reflect.Slice {
				panic("spec: parity: unsupported field type " + v.Field(i).Type().String())
			}
			b, _ := json.Marshal(x)
			out[tag] = str(string(b))
		}
	}
	out["requires"] = str(jsonList(r.Requires))
	out["notify"] = str(jsonList(r.Notify))
	return out
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// fieldKeys returns the keys of a and b, sorted.
func fieldKeys(a, b map[string]*string) []string {
	return sortedKeys(union(a, b))
}

// fieldPosOf returns where field k of r is declared: the field's value,
// else what produced it (a file's content comes from template or source,
// a list from its first element), else the resource.
func fieldPosOf(r *Resource, k string) Pos {
	keys := []string{k, k + "[0]"}
	for _, ref := range fileRefsOf(r.Spec) {
		if ref.fills == k {
			keys = append(keys, ref.field)
		}
	}
	for _, key := range keys {
		if n := r.nodes[key]; n != nil {
			return r.fieldPos(key)
		}
	}
	return r.Pos
}

// firstDiffLine shortens a difference of multi-line values to the first
// line where A differs from n, the neutralised value (an earlier line may
// differ only by what is allowed), and B's line of that number.
func firstDiffLine(d *Difference, n *string) {
	if d.A == nil || d.B == nil || n == nil || !strings.Contains(*d.A, "\n") && !strings.Contains(*d.B, "\n") {
		return
	}
	la, lb, ln := strings.Split(*d.A, "\n"), strings.Split(*d.B, "\n"), strings.Split(*n, "\n")
	for i := 0; ; i++ {
		if i >= len(la) || i >= len(ln) || la[i] != ln[i] {
			d.Line = i + 1
			d.A, d.B = lineAt(la, i), lineAt(lb, i)
			return
		}
	}
}

func lineAt(lines []string, i int) *string {
	if i >= len(lines) {
		return nil
	}
	return &lines[i]
}

func handlerValues(h *Handler) map[string]*string {
	if h == nil {
		return map[string]*string{}
	}
	return map[string]*string{"": str("present"), "service": str(h.Service), "action": str(h.Action), "command": str(h.Command)}
}

func handlerPos(h *Handler) Pos {
	if h == nil {
		return Pos{}
	}
	return h.Pos
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// CheckParity checks environment env against the environment it is
// declared like (nil when it declares none): each difference the spec does
// not allow is one Error at the position causing it. The ErrorList comes
// in a *ParityError (a heading), with a hint; an unknown env or a repository that
// does not compile returns that error instead.
func CheckParity(r *Repo, env string) error {
	e := r.Environments[env]
	if e == nil || e.Like == "" {
		return nil
	}
	diffs, err := Parity(r, env, e.Like)
	if err != nil {
		return err
	}
	var l ErrorList
	for _, d := range diffs {
		if d.Allowed {
			continue
		}
		pos := d.Pos
		if pos.File == "" {
			pos = Pos{File: e.File}
		}
		line := ""
		if d.Line > 0 {
			line = fmt.Sprintf(" line %d", d.Line)
		}
		l.add(pos, "%s%s: %s %s, %s %s (%s)", d.Path, line, env, showValue(d.A), e.Like, showValue(d.B), d.Reason)
	}
	if len(l) == 0 {
		return nil
	}
	return hint.Wrap(&ParityError{Env: env, Like: e.Like, List: l.sorted()},
		fmt.Sprintf("tend parity %s %s shows every difference; make them alike, or list what may differ under may_differ in %s", env, e.Like, e.File))
}

// ParityError is what CheckParity returns: environment Env differs from
// Like where the spec does not allow it, in each way List holds.
type ParityError struct {
	Env, Like string
	List      ErrorList
}

func (e *ParityError) Error() string {
	n := len(e.List)
	return fmt.Sprintf("environment %s is declared like %s but differs in %d %s not declared in may_differ:\n%s",
		e.Env, e.Like, n, map[bool]string{true: "way", false: "ways"}[n == 1], e.List)
}

// Unwrap returns the list, so that errors.As finds an ErrorList.
func (e *ParityError) Unwrap() error { return e.List }

// showValue quotes v, or says it is absent.
func showValue(v *string) string {
	if v == nil {
		return "(absent)"
	}
	return strconv.Quote(*v)
}
