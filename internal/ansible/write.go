package ansible

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// hostOut is what one host becomes.
type hostOut struct {
	vars    map[string]any
	aliases map[string]string // plain name -> vault_ name
	address string
	user    string
	port    int
	roles   []string
}

func (env *environment) addRole(h, name string) {
	if env.out == nil {
		env.out = map[string]*hostOut{}
	}
	o := env.out[h]
	for _, r := range o.roles {
		if r == name {
			return
		}
	}
	o.roles = append(o.roles, name)
}

var exactRef = func(s string) (string, bool) {
	s = strings.TrimSpace(s)
	inner, ok := strings.CutPrefix(s, "{{")
	inner, ok2 := strings.CutSuffix(inner, "}}")
	inner = strings.TrimSpace(inner)
	return inner, ok && ok2 && identRE.MatchString(inner)
}

// flatten computes each host's variables as Ansible would (group depth,
// then host), and takes out what tend holds elsewhere: connection
// settings, and the variables standing for vault_ secrets.
func (c *converter) flatten() {
	c.defCount, c.hostCount = map[string]int{}, 0
	for _, env := range c.envs {
		env.out = map[string]*hostOut{}
		for _, h := range env.inv.hosts {
			vars, where := map[string]any{}, map[string]string{}
			put := func(src string, line func(string) int, m map[string]any) {
				for k, v := range m {
					vars[k] = v
					where[k] = src
					if line != nil && line(k) > 0 {
						where[k] = fmt.Sprintf("%s:%d", src, line(k))
					}
				}
			}
			// Ansible's order: every group's inventory-file vars, then
			// group_vars files (all first, then by depth), then the host's.
			for _, g := range env.inv.groupsOf(h) {
				put(env.inv.file, nil, env.inv.groups[g].vars)
			}
			for _, g := range env.inv.groupsOf(h) {
				for _, s := range env.groupFiles[g] {
					s := s
					put(s.file, func(k string) int { return s.lines[k] }, s.vars)
				}
			}
			put(env.inv.file, nil, env.inv.hostVars[h])
			for _, s := range env.hostFiles[h] {
				s := s
				put(s.file, func(k string) int { return s.lines[k] }, s.vars)
			}
			o := &hostOut{vars: map[string]any{}, aliases: map[string]string{}, address: h}
			for k, v := range vars {
				switch k {
				case "ansible_host", "ansible_ssh_host":
					o.address = fmt.Sprint(v)
					continue
				case "ansible_port", "ansible_ssh_port":
					o.port, _ = strconv.Atoi(fmt.Sprint(v))
					continue
				case "ansible_user", "ansible_ssh_user":
					o.user = fmt.Sprint(v)
					continue
				}
				if strings.HasPrefix(k, "ansible_") {
					c.noteOnce(where[k], "variable "+k, "connection settings other than host, port and user are not converted")
					continue
				}
				if k == "host" || k == "env" || k == "tend" {
					c.noteOnce(where[k], "variable "+k, "a name tend reserves: not converted")
					continue
				}
				o.vars[k] = v
			}
			// resolve references: vault aliases, and plain copies of
			// other variables; other templates are kept as written.
			for round := 0; round < 5; round++ {
				for k, v := range o.vars {
					s, ok := v.(string)
					if !ok || !strings.Contains(s, "{{") {
						continue
					}
					ref, exact := exactRef(s)
					switch {
					case exact && strings.HasPrefix(ref, "vault_"):
						if _, have := env.secrets[ref]; !have {
							c.noteOnce(where[k], "variable "+k, ref+" is in no vault file of "+env.name+": left out")
						} else {
							o.aliases[k] = ref
						}
						delete(o.vars, k)
					case exact && o.vars[ref] != nil:
						if _, nested := o.vars[ref].(string); !nested || !strings.Contains(o.vars[ref].(string), "{{") {
							o.vars[k] = o.vars[ref]
						}
					case exact && o.aliases[ref] != "":
						o.aliases[k] = o.aliases[ref]
						delete(o.vars, k)
					case round == 4:
						c.noteOnce(where[k], "variable "+k, "its value is a template: tend's variables are literal; kept as written")
					}
				}
			}
			env.out[h] = o
			c.hostCount++
			for k := range o.vars {
				c.defCount[k]++
			}
			for k := range o.aliases {
				c.defCount[k]++
			}
		}
		// a vault_ name no variable stands for is seen under its plain name.
		for name := range env.secrets {
			plain := strings.TrimPrefix(name, "vault_")
			for _, o := range env.out {
				if _, ok := o.vars[plain]; !ok && o.aliases[plain] == "" {
					o.aliases[plain] = name
				}
			}
		}
	}
}

func (c *converter) noteOnce(where, what, why string) {
	file, line := where, 0
	if i := strings.LastIndexByte(where, ':'); i > 0 {
		if n, err := strconv.Atoi(where[i+1:]); err == nil {
			file, line = where[:i], n
		}
	}
	for _, p := range c.res.Problems {
		if p.File == file && p.Line == line && p.What == what {
			return
		}
	}
	c.problem(file, line, what, why)
}

// defined says whether a variable is defined for a role's hosts: known
// when it is the same on every host.
func (c *converter) defined(r *role) func(string) (bool, bool) {
	return func(name string) (bool, bool) {
		if _, ok := r.vars[name]; ok {
			return true, true
		}
		switch c.defCount[name] {
		case 0:
			return false, true
		case c.hostCount:
			return true, true
		}
		return false, false
	}
}

// write lays out the tend repository.
func (c *converter) write() error {
	name := slug(filepath.Base(filepath.Clean(c.dir)))
	c.res.Files["tend.yaml"] = []byte("# converted from Ansible by tend import ansible; see docs/ansible.md\nname: " + name + "\n")
	roleNames := map[string]bool{}
	for _, rn := range c.roleOrder {
		r := c.roles[rn]
		roleNames[r.name] = true
		m := newMap()
		if len(r.requires) > 0 {
			m.set("requires", r.requires)
		}
		if len(r.vars) > 0 {
			m.set("vars", sortedMap(r.vars))
		}
		m.set("resources", r.resources)
		if len(r.handlers.keys) > 0 {
			m.set("handlers", r.handlers)
		}
		b, err := marshal("# converted from "+c.rel(r.dir)+" by tend import ansible\n", m)
		if err != nil {
			return err
		}
		c.res.Files["roles/"+r.name+"/role.yaml"] = b
		for p, data := range r.files {
			c.res.Files["roles/"+r.name+"/"+p] = data
		}
	}
	for _, env := range c.envs {
		hostNames := map[string]bool{}
		for _, h := range env.inv.hosts {
			hostNames[slug(h)] = true
		}
		// variables equal on every host go to the environment.
		common := map[string]any{}
		first := env.out[env.inv.hosts[0]]
		for k, v := range first.vars {
			same := true
			for _, h := range env.inv.hosts {
				if w, ok := env.out[h].vars[k]; !ok || !reflect.DeepEqual(v, w) {
					same = false
				}
			}
			if same {
				common[k] = v
			}
		}
		secrets := map[string]any{}
		hosts := newMap()
		for _, h := range env.inv.hosts {
			o := env.out[h]
			hm := newMap().set("address", o.address)
			ssh := newMap()
			if o.user != "" {
				ssh.set("user", o.user)
			}
			if o.port != 0 {
				ssh.set("port", o.port)
			}
			if len(ssh.keys) > 0 {
				hm.set("ssh", ssh)
			}
			var roles []string
			for _, rn := range o.roles {
				roles = append(roles, c.roles[rn].name)
			}
			if len(roles) > 0 {
				hm.set("roles", roles)
			}
			own := map[string]any{}
			for k, v := range o.vars {
				if _, ok := common[k]; !ok {
					own[k] = v
				}
			}
			if len(own) > 0 {
				hm.set("vars", sortedMap(own))
			}
			for k, v := range o.aliases {
				secrets[k] = v
			}
			hosts.set(slug(h), hm)
		}
		out := newMap()
		if len(common) > 0 {
			out.set("vars", sortedMap(common))
		}
		if len(secrets) > 0 {
			out.set("secrets", sortedMap(secrets))
		}
		out.set("hosts", hosts)
		groups := newMap()
		var gnames []string
		for g := range env.inv.groups {
			gnames = append(gnames, g)
		}
		sort.Strings(gnames)
		for _, g := range gnames {
			if g == "all" || g == "ungrouped" {
				continue
			}
			sg := slug(g)
			if hostNames[sg] || roleNames[sg] {
				c.noteOnce(env.inv.file, "group "+g, "named like a host or a role: not kept as a group (the role already selects those hosts)")
				continue
			}
			var members []string
			for _, h := range env.inv.hosts {
				for _, hg := range env.inv.groupsOf(h) {
					if hg == g {
						members = append(members, slug(h))
					}
				}
			}
			if len(members) > 0 {
				groups.set(sg, members)
			}
		}
		if len(groups.keys) > 0 {
			out.set("groups", groups)
		}
		b, err := marshal("# converted from "+env.inv.file+" by tend import ansible\n", out)
		if err != nil {
			return err
		}
		c.res.Files["environments/"+env.name+".yaml"] = b
		if len(env.secrets) > 0 {
			c.res.Secrets[env.name] = env.secrets
		}
	}
	return nil
}
