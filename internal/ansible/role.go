package ansible

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// role is one Ansible role being converted.
type role struct {
	name      string
	dir       string
	vars      map[string]any
	resources []*omap
	handlers  *omap
	// handlerNames maps an Ansible handler name (or listen topic) to tend's.
	handlerNames map[string]string
	requires     []string
	files        map[string][]byte
	labels       map[string]bool
	ids          map[string]bool
	byID         map[string]*omap
}

var slugRE = regexp.MustCompile(`[^a-z0-9._-]+`)

// slug makes a tend name (handler, label) of an Ansible name.
func slug(s string) string {
	s = strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "-"), "-._")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-._")
	}
	if s == "" {
		s = "task"
	}
	return s
}

func (r *role) label(s string) string {
	base := slug(s)
	if len(base) > 60 {
		base = base[:60]
	}
	l := base
	for i := 2; r.labels[l]; i++ {
		l = fmt.Sprintf("%s-%d", base, i)
	}
	r.labels[l] = true
	return l
}

// readYAML reads a file as a YAML node (the document's content), or nil.
func readYAML(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func firstExisting(dir string, names ...string) string {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n)
		}
	}
	return ""
}

// readPlaybook reads the playbook's plays: each play's roles go to the
// hosts its pattern selects.
func (c *converter) readPlaybook() error {
	pb := c.opts.Playbook
	var path string
	if pb != "" {
		path = filepath.Join(c.dir, pb)
	} else if path = firstExisting(c.dir, "site.yml", "site.yaml", "playbook.yml", "main.yml"); path == "" {
		return fmt.Errorf("no playbook (site.yml or playbook.yml) in %s: name it with --playbook", c.dir)
	}
	plays, err := readYAML(path)
	if err != nil {
		return fmt.Errorf("read playbook: %w", err)
	}
	file := c.rel(path)
	c.flatten()
	if plays == nil || plays.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: a playbook is a list of plays", file)
	}
	for _, play := range plays.Content {
		var p struct {
			Hosts string `yaml:"hosts"`
			Roles []any  `yaml:"roles"`
		}
		if err := play.Decode(&p); err != nil {
			c.problem(file, play.Line, "play", "not read: "+err.Error())
			continue
		}
		for i := 0; i+1 < len(play.Content); i += 2 {
			switch k := play.Content[i].Value; k {
			case "hosts", "roles", "name", "become", "become_user", "gather_facts", "vars_files", "remote_user", "any_errors_fatal":
			case "import_playbook":
				c.problem(file, play.Line, "import_playbook", "not followed: convert each playbook with --playbook")
			default:
				c.problem(file, play.Content[i].Line, "play "+p.Hosts+": "+k, "plays' "+k+" are not converted: move tasks into a role")
			}
		}
		var names []string
		for _, r := range p.Roles {
			switch r := r.(type) {
			case string:
				names = append(names, r)
			case map[string]any:
				if n, ok := r["role"].(string); ok {
					names = append(names, n)
					if len(r) > 1 {
						c.problem(file, play.Line, "role "+n, "role parameters are not converted: set them as variables")
					}
				}
			}
		}
		var kept []string
		for _, n := range names {
			if c.loadRole(n, file, play.Line) != nil {
				kept = append(kept, n)
			}
		}
		for _, env := range c.envs {
			for _, h := range env.inv.hosts {
				hit, simple := env.inv.matches(p.Hosts, h)
				if !simple {
					c.problem(file, play.Line, "play hosts "+p.Hosts, "only groups, hosts and all joined by : are converted")
				}
				if hit {
					for _, n := range kept {
						env.addRole(h, n)
					}
				}
			}
		}
	}
	return nil
}

// loadRole converts roles/NAME once; nil when it is not in the repository.
func (c *converter) loadRole(name, from string, line int) *role {
	if r, ok := c.roles[name]; ok {
		return r
	}
	dir := filepath.Join(c.dir, "roles", name)
	if _, err := os.Stat(dir); err != nil {
		c.problem(from, line, "role "+name, "not in roles/ (a Galaxy role?): left out; install it and convert it, or write a tend role (see tend role fetch)")
		c.roles[name] = nil
		return nil
	}
	r := &role{name: slug(name), dir: dir, vars: map[string]any{}, handlers: newMap(), handlerNames: map[string]string{},
		files: map[string][]byte{}, labels: map[string]bool{}, ids: map[string]bool{}, byID: map[string]*omap{}}
	c.roles[name] = r
	for _, sub := range []string{"defaults", "vars"} {
		if p := firstExisting(filepath.Join(dir, sub), "main.yml", "main.yaml"); p != "" {
			var m map[string]any
			n, err := readYAML(p)
			if err == nil && n != nil {
				err = n.Decode(&m)
			}
			if err != nil {
				c.problem(c.rel(p), 0, "role variables", "not read: "+err.Error())
			}
			for k, v := range m {
				if s, ok := v.(string); ok && strings.Contains(s, "{{") {
					c.problem(c.rel(p), lineOf(n, k), "variable "+k, "its value is a template: tend's variables are literal; kept as written")
				}
				r.vars[k] = v
			}
		}
	}
	if p := firstExisting(filepath.Join(dir, "meta"), "main.yml", "main.yaml"); p != "" {
		var meta struct {
			Dependencies []any `yaml:"dependencies"`
		}
		if n, err := readYAML(p); err == nil && n != nil && n.Decode(&meta) == nil {
			for _, d := range meta.Dependencies {
				dn, _ := d.(string)
				if m, ok := d.(map[string]any); ok {
					dn, _ = m["role"].(string)
				}
				if dn != "" && c.loadRole(dn, c.rel(p), n.Line) != nil {
					r.requires = append(r.requires, slug(dn))
				}
			}
		}
	}
	c.readHandlers(r)
	if p := firstExisting(filepath.Join(dir, "tasks"), "main.yml", "main.yaml"); p != "" {
		c.readTasks(r, p, 0)
	}
	c.copyFiles(r)
	c.roleOrder = append(c.roleOrder, name)
	return r
}

func lineOf(m *yaml.Node, key string) int {
	if m == nil {
		return 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

// copyFiles copies files/ as they are; templates are converted when a
// template task uses them.
func (c *converter) copyFiles(r *role) {
	root := filepath.Join(r.dir, "files")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			r.files["files/"+rel] = data
		}
		return nil
	})
}

func (c *converter) readHandlers(r *role) {
	p := firstExisting(filepath.Join(r.dir, "handlers"), "main.yml", "main.yaml")
	if p == "" {
		return
	}
	n, err := readYAML(p)
	if err != nil || n == nil || n.Kind != yaml.SequenceNode {
		c.problem(c.rel(p), 0, "handlers", "not a list of handlers")
		return
	}
	for _, h := range n.Content {
		t, err := parseTask(h, c.rel(p))
		if err != nil {
			c.problem(c.rel(p), h.Line, "handler", err.Error())
			continue
		}
		name := slug(t.name)
		var def *omap
		switch t.module {
		case "service", "systemd", "systemd_service":
			svc, _ := t.args["name"].(string)
			action := map[string]string{"restarted": "restart", "reloaded": "reload"}[fmt.Sprint(t.args["state"])]
			if svc == "" || action == "" || strings.Contains(svc, "{{") {
				c.problem(t.file, t.line, "handler "+t.name, "only a restart or reload of a named service is converted")
				continue
			}
			def = newMap().set("service", strings.TrimSuffix(svc, ".service")).set("action", action)
		case "command", "shell":
			cmd, _ := t.args["cmd"].(string)
			conv, err := convertString(cmd, scope{})
			if cmd == "" || err != nil {
				c.problem(t.file, t.line, "handler "+t.name, "its command is not converted")
				continue
			}
			def = newMap().set("command", conv)
		default:
			c.problem(t.file, t.line, "handler "+t.name, "module "+t.module+" is not converted in handlers (service, systemd, command and shell are)")
			continue
		}
		r.handlers.set(name, def)
		r.handlerNames[t.name] = name
		if l, ok := t.keys["listen"]; ok {
			var topics []string
			if l.Decode(&topics) != nil {
				var one string
				l.Decode(&one)
				topics = []string{one}
			}
			for _, tp := range topics {
				r.handlerNames[tp] = name
			}
		}
		c.res.Converted++
	}
}

// readTasks converts a task file, following static import_tasks and
// include_tasks.
func (c *converter) readTasks(r *role, path string, depth int) {
	file := c.rel(path)
	n, err := readYAML(path)
	if err != nil {
		c.problem(file, 0, "tasks", "not read: "+err.Error())
		return
	}
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		c.problem(file, n.Line, "tasks", "not a list of tasks")
		return
	}
	for _, tn := range n.Content {
		t, err := parseTask(tn, file)
		if err != nil {
			c.problem(file, tn.Line, "task", err.Error())
			continue
		}
		if t.module == "import_tasks" || t.module == "include_tasks" {
			f, _ := t.args["file"].(string)
			if f == "" {
				f = t.free
			}
			if f == "" || strings.Contains(f, "{{") || depth > 5 || len(t.keys) > 0 {
				c.problem(file, t.line, t.title(), t.module+" with a computed file, a condition or a loop is not converted")
				continue
			}
			c.readTasks(r, filepath.Join(filepath.Dir(path), f), depth+1)
			continue
		}
		res, why := c.convertTask(r, t)
		if why != "" {
			c.problem(file, t.line, t.title(), why)
			continue
		}
		var kept []*omap
		for _, m := range res {
			id := m.keys[0] + ":" + fmt.Sprint(m.vals[m.keys[0]])
			if prev := r.byID[id]; prev != nil && m.keys[0] == "authorized_keys" && len(m.keys) == 2 && len(prev.keys) == 2 {
				// several authorized_key tasks for one user: one resource
				prev.set("keys", append(prev.vals["keys"].([]string), m.vals["keys"].([]string)...))
				continue
			}
			if !strings.Contains(id, "{{") && r.ids[id] {
				c.problem(file, t.line, t.title(), id+" is declared by an earlier task: tend declares a resource once; merge the two")
				continue
			}
			r.ids[id] = true
			r.byID[id] = m
			kept = append(kept, m)
		}
		r.resources = append(r.resources, kept...)
		c.res.Converted++
	}
}
