package ansible

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"tend/internal/secret"
)

// inventory is one Ansible inventory: hosts in order, groups, their vars.
type inventory struct {
	file     string
	hosts    []string
	hostVars map[string]map[string]any
	groups   map[string]*group
}

type group struct {
	hosts    []string
	children []string
	vars     map[string]any
}

func (inv *inventory) group(name string) *group {
	g := inv.groups[name]
	if g == nil {
		g = &group{vars: map[string]any{}}
		inv.groups[name] = g
	}
	return g
}

func (inv *inventory) addHost(g, h string, vars map[string]any) {
	if _, ok := inv.hostVars[h]; !ok {
		inv.hosts = append(inv.hosts, h)
		inv.hostVars[h] = map[string]any{}
	}
	for k, v := range vars {
		inv.hostVars[h][k] = v
	}
	gr := inv.group(g)
	for _, x := range gr.hosts {
		if x == h {
			return
		}
	}
	gr.hosts = append(gr.hosts, h)
}

// groupsOf returns every group h is in, directly or through children,
// "all" first, then by depth, then by name (Ansible's order of precedence).
func (inv *inventory) groupsOf(h string) []string {
	parents := map[string][]string{}
	for name, g := range inv.groups {
		for _, ch := range g.children {
			parents[ch] = append(parents[ch], name)
		}
	}
	depth := map[string]int{}
	var visit func(g string, d int)
	visit = func(g string, d int) {
		if old, ok := depth[g]; ok && old >= d {
			return
		}
		depth[g] = d
		for _, p := range parents[g] {
			visit(p, d-1)
		}
	}
	for name, g := range inv.groups {
		for _, x := range g.hosts {
			if x == h {
				visit(name, 0)
			}
		}
	}
	var out []string
	for g := range depth {
		if g != "all" {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if depth[out[i]] != depth[out[j]] {
			return depth[out[i]] < depth[out[j]]
		}
		return out[i] < out[j]
	})
	return append([]string{"all"}, out...)
}

// matches says whether a play's hosts pattern selects h: "all", a group,
// a host, or several joined by ':' or ','. Other patterns select nothing.
func (inv *inventory) matches(pattern, h string) (bool, bool) {
	simple := true
	hit := false
	for _, p := range strings.FieldsFunc(pattern, func(r rune) bool { return r == ':' || r == ',' }) {
		p = strings.TrimSpace(p)
		switch {
		case strings.ContainsAny(p, "*!&~[{"):
			simple = false
		case p == "all" || p == h:
			hit = true
		default:
			for _, g := range inv.groupsOf(h) {
				if g == p {
					hit = true
				}
			}
		}
	}
	return hit, simple
}

func (c *converter) parseInventory(file string) (*inventory, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	inv := &inventory{file: c.rel(file), hostVars: map[string]map[string]any{}, groups: map[string]*group{}}
	inv.group("all")
	trimmed := bytes.TrimSpace(data)
	if ext := filepath.Ext(file); ext == ".yml" || ext == ".yaml" || bytes.HasPrefix(trimmed, []byte("all:")) || bytes.HasPrefix(trimmed, []byte("---")) {
		var root map[string]yamlGroup
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, fmt.Errorf("%s: %w", inv.file, err)
		}
		for name, g := range root {
			inv.yamlGroup(name, g)
		}
		return inv, nil
	}
	return inv, inv.parseINI(data)
}

type yamlGroup struct {
	Hosts    map[string]map[string]any `yaml:"hosts"`
	Vars     map[string]any            `yaml:"vars"`
	Children map[string]yamlGroup      `yaml:"children"`
}

func (inv *inventory) yamlGroup(name string, g yamlGroup) {
	gr := inv.group(name)
	for k, v := range g.Vars {
		gr.vars[k] = v
	}
	hosts := make([]string, 0, len(g.Hosts))
	for h := range g.Hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		inv.addHost(name, h, g.Hosts[h])
	}
	for ch, sub := range g.Children {
		gr.children = append(gr.children, ch)
		inv.yamlGroup(ch, sub)
	}
	sort.Strings(gr.children)
}

func (inv *inventory) parseINI(data []byte) error {
	section, kind := "ungrouped", "hosts"
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return fmt.Errorf("%s:%d: section without ]", inv.file, n)
			}
			section, kind = line[1:end], "hosts"
			if i := strings.IndexByte(section, ':'); i >= 0 {
				section, kind = section[:i], section[i+1:]
			}
			inv.group(section)
			continue
		}
		fields := splitINI(line)
		switch kind {
		case "hosts":
			vars := map[string]any{}
			for _, f := range fields[1:] {
				if k, v, ok := strings.Cut(f, "="); ok {
					vars[k] = iniValue(v)
				}
			}
			inv.addHost(section, fields[0], vars)
		case "children":
			inv.group(fields[0])
			inv.group(section).children = append(inv.group(section).children, fields[0])
		case "vars":
			k, v, _ := strings.Cut(line, "=")
			inv.group(section).vars[strings.TrimSpace(k)] = iniValue(strings.TrimSpace(v))
		default:
			return fmt.Errorf("%s:%d: unknown section kind %q", inv.file, n, kind)
		}
	}
	for name, g := range inv.groups {
		if name != "all" {
			inv.groups["all"].children = append(inv.groups["all"].children, name)
		}
		_ = g
	}
	return nil
}

// splitINI splits an inventory line on spaces, keeping quoted values whole.
func splitINI(s string) []string {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case quote == 0 && (r == ' ' || r == '\t'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// iniValue types an INI value as Ansible does for the common cases.
func iniValue(v string) any {
	if i, err := strconv.Atoi(v); err == nil {
		return i
	}
	switch v {
	case "true", "True", "yes":
		return true
	case "false", "False", "no":
		return false
	}
	return strings.Trim(v, `"'`)
}

// varSource is one file of variables with the line of each name.
type varSource struct {
	file  string
	vars  map[string]any
	lines map[string]int
}

// environment is one inventory and the variables read for it.
type environment struct {
	name string
	inv  *inventory
	// groupFiles and hostFiles: group_vars/host_vars, in precedence order.
	groupFiles map[string][]varSource
	hostFiles  map[string][]varSource
	secrets    map[string]secret.Value
	out        map[string]*hostOut
}

// readVarDirs reads DIR/group_vars and DIR/host_vars: NAME.yml files or
// NAME/ directories of files (vault.yml among them).
func (c *converter) readVarDirs(env *environment, dir string) error {
	if env.groupFiles == nil {
		env.groupFiles, env.hostFiles, env.secrets = map[string][]varSource{}, map[string][]varSource{}, map[string]secret.Value{}
	}
	for sub, into := range map[string]map[string][]varSource{"group_vars": env.groupFiles, "host_vars": env.hostFiles} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		for _, e := range entries {
			path := filepath.Join(dir, sub, e.Name())
			name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".yml"), ".yaml")
			var files []string
			if e.IsDir() {
				inner, _ := os.ReadDir(path)
				for _, f := range inner {
					if !f.IsDir() {
						files = append(files, filepath.Join(path, f.Name()))
					}
				}
			} else if name != e.Name() || !strings.Contains(e.Name(), ".") {
				files = append(files, path)
			}
			for _, f := range files {
				src, err := c.readVarFile(env, f)
				if err != nil {
					return err
				}
				into[name] = append(into[name], src)
			}
		}
	}
	return nil
}

func (c *converter) readVarFile(env *environment, file string) (varSource, error) {
	src := varSource{file: c.rel(file), vars: map[string]any{}, lines: map[string]int{}}
	data, err := os.ReadFile(file)
	if err != nil {
		return src, err
	}
	if bytes.HasPrefix(data, []byte("$ANSIBLE_VAULT;")) {
		if c.opts.VaultPassword == nil {
			return src, fmt.Errorf("%s is ansible-vault encrypted: give the vault password (--password-file or stdin)", src.file)
		}
		plain, err := secret.DecryptAnsibleVault(data, c.opts.VaultPassword)
		if err != nil {
			return src, fmt.Errorf("%s: %w", src.file, err)
		}
		values, err := secret.VaultValues(plain, true)
		clear(plain)
		if err != nil {
			return src, fmt.Errorf("%s: %w", src.file, err)
		}
		for k, v := range values {
			env.secrets[k] = v
			c.secretNames[k] = true
		}
		return src, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return src, fmt.Errorf("%s: %w", src.file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return src, nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i].Value, m.Content[i+1]
		src.lines[k] = m.Content[i].Line
		if v.Tag == "!vault" {
			if c.opts.VaultPassword == nil {
				return src, fmt.Errorf("%s:%d: %s is a !vault value: give the vault password (--password-file or stdin)", src.file, v.Line, k)
			}
			plain, err := secret.DecryptAnsibleVault([]byte(v.Value), c.opts.VaultPassword)
			if err != nil {
				return src, fmt.Errorf("%s:%d: %s: %w", src.file, v.Line, k, err)
			}
			name := k
			if !strings.HasPrefix(name, secret.Prefix) {
				name = secret.Prefix + name
				src.vars[k] = "{{ " + name + " }}" // the plain name stands for the secret
			}
			env.secrets[name] = secret.NewValue(string(plain))
			clear(plain)
			c.secretNames[name] = true
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			c.problem(src.file, v.Line, "variable "+k, "not read: "+err.Error())
			continue
		}
		if strings.HasPrefix(k, secret.Prefix) {
			c.problem(src.file, v.Line, "variable "+k, "a vault_ variable in a file that is not encrypted: not imported (put it in a vault file)")
			continue
		}
		src.vars[k] = val
	}
	return src, nil
}
