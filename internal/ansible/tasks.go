package ansible

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// task is one Ansible task: its module, arguments and other keywords.
type task struct {
	file, name, module string
	line               int
	args               map[string]any
	free               string // free-form arguments (command lines, k=v)
	keys               map[string]*yaml.Node
}

func (t *task) hasLoop() bool {
	for _, k := range []string{"loop", "with_items", "with_list", "with_dict"} {
		if _, ok := t.keys[k]; ok {
			return true
		}
	}
	return false
}

func (t *task) title() string {
	if t.name != "" {
		return fmt.Sprintf("task %q (%s)", t.name, t.module)
	}
	return "task " + t.module
}

// keywords a task may have that are not its module.
var keywords = map[string]bool{
	"name": true, "notify": true, "when": true, "loop": true, "with_items": true, "with_list": true, "with_dict": true,
	"tags": true, "become": true, "become_user": true, "args": true, "listen": true,
	"register": true, "until": true, "retries": true, "delay": true, "changed_when": true, "failed_when": true,
	"ignore_errors": true, "delegate_to": true, "run_once": true, "environment": true, "vars": true, "loop_control": true,
	"block": true, "rescue": true, "always": true, "check_mode": true, "no_log": true, "async": true, "poll": true,
	"with_fileglob": true, "with_nested": true, "with_together": true, "with_subelements": true, "local_action": true,
}

var kvRE = regexp.MustCompile(`(\w+)=("[^"]*"|'[^']*'|\S+)`)

func parseTask(n *yaml.Node, file string) (*task, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("a task is a mapping")
	}
	t := &task{file: file, line: n.Line, args: map[string]any{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch {
		case k == "name":
			t.name = v.Value
		case k == "args":
			var m map[string]any
			v.Decode(&m)
			for a, x := range m {
				t.args[a] = x
			}
		case keywords[k]:
			t.keys[k] = v
		case t.module == "":
			t.module = k[strings.LastIndex(k, ".")+1:]
			switch v.Kind {
			case yaml.MappingNode:
				var m map[string]any
				if err := v.Decode(&m); err != nil {
					return nil, err
				}
				for a, x := range m {
					t.args[a] = x
				}
			case yaml.ScalarNode:
				t.free = v.Value
				if t.module != "command" && t.module != "shell" {
					for _, kv := range kvRE.FindAllStringSubmatch(v.Value, -1) {
						t.args[kv[1]] = strings.Trim(kv[2], `"'`)
					}
				}
			}
		default:
			return nil, fmt.Errorf("two modules in one task (%s, %s)", t.module, k)
		}
	}
	if (t.module == "command" || t.module == "shell") && t.free != "" {
		cmd := t.free
		for _, g := range []string{"creates", "removes", "chdir"} {
			re := regexp.MustCompile(`(^|\s)` + g + `=(\S+)`)
			if m := re.FindStringSubmatch(cmd); m != nil {
				t.args[g] = m[2]
				cmd = re.ReplaceAllString(cmd, "")
			}
		}
		t.args["cmd"] = strings.TrimSpace(cmd)
	}
	if t.module == "" {
		if _, ok := t.keys["block"]; ok {
			t.module = "block"
		} else {
			return nil, fmt.Errorf("no module")
		}
	}
	return t, nil
}

// argument names each module's conversion understands; other arguments make
// the task unconvertible, as their meaning would be lost.
var known = map[string][]string{
	"file":            {"path", "dest", "name", "state", "mode", "owner", "group", "src", "force"},
	"copy":            {"dest", "src", "content", "mode", "owner", "group", "backup", "force"},
	"template":        {"dest", "src", "mode", "owner", "group", "backup", "force"},
	"user":            {"name", "uid", "group", "groups", "home", "shell", "system", "state", "append", "create_home", "comment"},
	"group":           {"name", "gid", "system", "state"},
	"apt":             {"name", "pkg", "state", "update_cache", "cache_valid_time", "install_recommends"},
	"package":         {"name", "state"},
	"service":         {"name", "state", "enabled"},
	"systemd":         {"name", "state", "enabled", "daemon_reload"},
	"systemd_service": {"name", "state", "enabled", "daemon_reload"},
	"cron":            {"name", "minute", "hour", "day", "month", "weekday", "job", "user", "cron_file", "special_time", "state"},
	"sysctl":          {"name", "value", "state", "sysctl_set", "reload", "sysctl_file"},
	"git":             {"repo", "dest", "version"},
	"postgresql_db":   {"name", "db", "owner", "encoding", "state", "template"},
	"postgresql_user": {"name", "user", "password", "role_attr_flags", "state", "db"},
	"authorized_key":  {"user", "key", "exclusive", "state"},
	"lineinfile":      {"path", "dest", "regexp", "regex", "line", "insertafter", "create", "state", "mode", "owner", "group"},
	"blockinfile":     {"path", "dest", "block", "content", "marker", "insertafter", "insertbefore", "create"},
	"command":         {"cmd", "creates", "chdir"},
	"shell":           {"cmd", "creates", "chdir"},
}

// convertTask converts one task to resources, or says why it cannot.
func (c *converter) convertTask(r *role, t *task) ([]*omap, string) {
	for _, k := range []string{"register", "until", "retries", "delay", "changed_when", "failed_when", "ignore_errors", "delegate_to",
		"run_once", "environment", "vars", "loop_control", "block", "check_mode", "async", "local_action",
		"with_fileglob", "with_nested", "with_together", "with_subelements"} {
		if n, ok := t.keys[k]; ok {
			if k == "register" {
				return nil, "register: tend has no task results to test later; write a command with creates/unless, or a handler"
			}
			_ = n
			return nil, k + " has no counterpart in tend"
		}
	}
	args, ok := known[t.module]
	if !ok {
		return nil, "module " + t.module + " is not converted"
	}
	var extra []string
	for a := range t.args {
		if !contains(args, a) {
			extra = append(extra, a)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, "argument " + strings.Join(extra, ", ") + " of " + t.module + " is not converted"
	}
	sc := scope{}
	common := newMap()
	// loops
	for _, lk := range []string{"loop", "with_items", "with_list", "with_dict"} {
		n, ok := t.keys[lk]
		if !ok {
			continue
		}
		sc.item = true
		switch n.Kind {
		case yaml.ScalarNode:
			e := strings.TrimSpace(n.Value)
			inner, ok := strings.CutPrefix(e, "{{")
			inner, ok2 := strings.CutSuffix(inner, "}}")
			inner = strings.TrimSpace(inner)
			if lk == "loop" && strings.HasSuffix(inner, "| dict2items") {
				inner, lk = strings.TrimSpace(strings.TrimSuffix(inner, "| dict2items")), "with_dict"
			}
			if !ok || !ok2 || !identRE.MatchString(inner) {
				return nil, lk + " over an expression: tend loops over a variable (for_each: NAME)"
			}
			common.set("for_each", inner)
		case yaml.SequenceNode:
			var items []any
			n.Decode(&items)
			name := strings.ReplaceAll(slug(r.name+"_"+t.name), "-", "_")
			name = strings.ReplaceAll(name, ".", "_") + "_items"
			r.vars[name] = items
			common.set("for_each", name)
		default:
			return nil, lk + " is neither a variable nor a list"
		}
	}
	if n, ok := t.keys["when"]; ok {
		var conds []string
		if n.Kind == yaml.SequenceNode {
			for _, x := range n.Content {
				conds = append(conds, x.Value)
			}
		} else {
			conds = []string{n.Value}
		}
		var conv []string
		for _, x := range conds {
			x = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(x), "{{"), "}}"))
			g, err := sc.cond(x, c.defined(r))
			if err != nil {
				return nil, "when " + x + ": " + err.Error()
			}
			switch g {
			case "true":
			case "false":
				return nil, "when " + x + " is never true here: left out"
			default:
				conv = append(conv, g)
			}
		}
		switch len(conv) {
		case 0:
		case 1:
			common.set("when", "{{ "+conv[0]+" }}")
		default:
			common.set("when", "{{ and ("+strings.Join(conv, ") (")+") }}")
		}
	}
	if n, ok := t.keys["notify"]; ok {
		var names []string
		if n.Decode(&names) != nil {
			names = []string{n.Value}
		}
		var conv []string
		for _, h := range names {
			tn, ok := c.handlerName(r, h)
			if !ok {
				return nil, "notify " + h + ": no such handler converted in this role or those it requires"
			}
			conv = append(conv, tn)
		}
		common.set("notify", conv)
	}
	if n, ok := t.keys["tags"]; ok {
		var tags []string
		if n.Decode(&tags) != nil {
			tags = strings.Split(n.Value, ",")
		}
		var conv []string
		for _, tg := range tags {
			if tg = slug(strings.TrimSpace(tg)); tg != "" && tg != "always" && tg != "never" {
				conv = append(conv, tg)
			}
		}
		if len(conv) > 0 {
			common.set("tags", conv)
		}
	}
	str := func(keys ...string) (string, error) {
		for _, k := range keys {
			if v, ok := t.args[k]; ok {
				return convertString(fmt.Sprint(v), sc)
			}
		}
		return "", nil
	}
	res, why := c.convertModule(r, t, sc, str)
	if why != "" {
		return nil, why
	}
	if n, ok := t.keys["become_user"]; ok && n.Value != "root" {
		switch t.module {
		case "command", "shell":
		case "git":
			res[0].set("user", n.Value)
		default:
			return nil, "become_user " + n.Value + ": tend applies as root; set owner/group (or user) on the resource instead"
		}
	}
	for _, m := range res {
		for _, k := range common.keys {
			m.set(k, common.vals[k])
		}
	}
	return res, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// handlerName finds a handler in the role or the roles it requires.
func (c *converter) handlerName(r *role, h string) (string, bool) {
	if n, ok := r.handlerNames[h]; ok {
		return n, true
	}
	for _, req := range r.requires {
		for _, other := range c.roles {
			if other != nil && other.name == req {
				if n, ok := c.handlerName(other, h); ok {
					return n, true
				}
			}
		}
	}
	return "", false
}

// mode formats a mode as tend writes it: a quoted octal string.
func mode(v any) (string, bool) {
	switch v := v.(type) {
	case int:
		return fmt.Sprintf("%04o", v), true
	case string:
		if regexp.MustCompile(`^0?[0-7]{3,4}$`).MatchString(v) {
			return fmt.Sprintf("%04s", strings.TrimLeft(v, "0")), true
		}
	}
	return "", false
}

func (c *converter) owner(t *task, m *omap, str func(...string) (string, error)) string {
	if v, ok := t.args["mode"]; ok {
		md, ok := mode(v)
		if !ok {
			return fmt.Sprintf("mode %v: only octal modes are converted", v)
		}
		if len(md) == 3 {
			md = "0" + md
		}
		m.set("mode", md)
	}
	for _, k := range []string{"owner", "group"} {
		if v, _ := str(k); v != "" {
			m.set(k, v)
		}
	}
	return ""
}

func (c *converter) convertModule(r *role, t *task, sc scope, str func(...string) (string, error)) ([]*omap, string) {
	a := t.args
	state := fmt.Sprint(a["state"])
	if a["state"] == nil {
		state = ""
	}
	one := func(m *omap) ([]*omap, string) { return []*omap{m}, "" }
	must := func(keys ...string) (string, string) {
		v, err := str(keys...)
		if err != nil {
			return "", err.Error()
		}
		if v == "" {
			return "", keys[0] + " is required"
		}
		return v, ""
	}
	switch t.module {
	case "file":
		path, why := must("path", "dest", "name")
		if why != "" {
			return nil, why
		}
		var m *omap
		switch state {
		case "directory":
			m = newMap().set("directory", path)
		case "absent":
			return one(newMap().set("absent", path))
		case "link":
			src, why := must("src")
			if why != "" {
				return nil, why
			}
			return one(newMap().set("symlink", path).set("target", src))
		default:
			return nil, "state " + state + ": tend's file needs its content (use copy or template)"
		}
		if why := c.owner(t, m, str); why != "" {
			return nil, why
		}
		return one(m)
	case "copy", "template":
		dest, why := must("dest")
		if why != "" {
			return nil, why
		}
		if strings.HasSuffix(dest, "/") {
			return nil, "dest is a directory: name the file"
		}
		m := newMap().set("file", dest)
		if t.module == "copy" {
			if content, ok := a["content"]; ok {
				s, err := convertString(fmt.Sprint(content), sc)
				if err != nil {
					return nil, "content: " + err.Error()
				}
				m.set("content", s)
			} else {
				src, why := must("src")
				if why != "" {
					return nil, why
				}
				if strings.Contains(src, "{{") || strings.HasSuffix(src, "/") {
					return nil, "src is computed or a directory"
				}
				if _, err := os.Stat(filepath.Join(r.dir, "files", src)); err != nil {
					return nil, "src " + src + " is not in the role's files/"
				}
				m.set("source", src)
			}
		} else {
			src, why := must("src")
			if why != "" {
				return nil, why
			}
			name, why := c.convertTemplateFile(r, src, sc)
			if why != "" {
				return nil, why
			}
			m.set("template", name)
		}
		if why := c.owner(t, m, str); why != "" {
			return nil, why
		}
		return one(m)
	case "user":
		name, why := must("name")
		if why != "" {
			return nil, why
		}
		m := newMap().set("user", name)
		if state == "absent" {
			return one(m.set("state", "absent"))
		}
		if v, ok := a["uid"]; ok {
			m.set("uid", v)
		}
		for _, k := range []string{"group", "home", "shell"} {
			if v, _ := str(k); v != "" {
				m.set(k, v)
			}
		}
		if v, ok := a["groups"]; ok {
			var gs []string
			switch v := v.(type) {
			case string:
				for _, g := range strings.Split(v, ",") {
					if g = strings.TrimSpace(g); g != "" {
						gs = append(gs, g)
					}
				}
			case []any:
				for _, g := range v {
					gs = append(gs, fmt.Sprint(g))
				}
			}
			if truthy(a["append"]) {
				return nil, "groups with append: tend's groups are exactly the listed ones; list them all"
			}
			m.set("groups", gs)
		}
		if truthy(a["system"]) {
			m.set("system", true)
		}
		return one(m)
	case "group":
		name, why := must("name")
		if why != "" {
			return nil, why
		}
		m := newMap().set("group", name)
		if state == "absent" {
			return one(m.set("state", "absent"))
		}
		if v, ok := a["gid"]; ok {
			m.set("gid", v)
		}
		if truthy(a["system"]) {
			m.set("system", true)
		}
		return one(m)
	case "apt", "package":
		v := a["name"]
		if v == nil {
			v = a["pkg"]
		}
		var names []string
		switch v := v.(type) {
		case string:
			if ref, ok := exactRef(v); ok && !strings.HasPrefix(ref, "item") && !t.hasLoop() {
				// a list variable: one package declaration per item
				m := newMap().set("package", "{{ .item }}").set("for_each", ref)
				if state == "absent" || state == "latest" {
					m.set("state", state)
				}
				return one(m)
			}
			if strings.Contains(v, "{{") {
				return nil, "a computed package name: list the packages"
			}
			names = strings.Split(v, ",")
		case []any:
			for _, x := range v {
				names = append(names, fmt.Sprint(x))
			}
		default:
			if v == nil && a["update_cache"] != nil {
				return nil, "update_cache alone: tend refreshes the apt cache itself when a package needs it"
			}
			return nil, "name is required"
		}
		st := map[string]string{"": "", "present": "", "installed": "", "absent": "absent", "removed": "absent", "latest": "latest"}
		s, ok := st[state]
		if !ok {
			return nil, "state " + state + " is not converted"
		}
		var out []*omap
		for _, n := range names {
			if n = strings.TrimSpace(n); strings.Contains(n, "{{") || strings.ContainsAny(n, "=*") {
				return nil, "package " + n + ": versions, patterns and computed names are not converted"
			}
			m := newMap().set("package", strings.TrimSpace(n))
			if s != "" {
				m.set("state", s)
			}
			out = append(out, m)
		}
		return out, ""
	case "service", "systemd", "systemd_service":
		name, why := must("name")
		if why != "" {
			return nil, why
		}
		m := newMap().set("service", strings.TrimSuffix(name, ".service"))
		switch state {
		case "started":
			m.set("running", true)
		case "stopped":
			m.set("running", false)
		case "":
		default:
			return nil, "state " + state + " is an action, not a state: notify a handler instead"
		}
		if v, ok := a["enabled"]; ok {
			m.set("enabled", truthy(v))
		}
		if len(m.keys) == 1 {
			if a["daemon_reload"] != nil {
				return nil, "daemon_reload alone: tend reloads systemd when it writes a unit"
			}
			return nil, "neither state nor enabled"
		}
		return one(m)
	case "cron":
		name, _ := str("cron_file")
		if name == "" {
			name, _ = str("name")
		}
		m := newMap().set("cron", r.label(strings.ReplaceAll(slug(name), ".", "-")))
		if state == "absent" {
			return nil, "state absent of a cron entry: tend removes the jobs that leave the spec"
		}
		job, why := must("job")
		if why != "" {
			return nil, why
		}
		sched, _ := str("special_time")
		if sched != "" {
			sched = "@" + sched
		} else {
			var f []string
			for _, k := range []string{"minute", "hour", "day", "month", "weekday"} {
				v, _ := str(k)
				if v == "" {
					v = "*"
				}
				f = append(f, v)
			}
			sched = strings.Join(f, " ")
		}
		m.set("schedule", sched).set("command", job)
		if u, _ := str("user"); u != "" {
			m.set("user", u)
		}
		return one(m)
	case "sysctl":
		name, why := must("name")
		if why != "" {
			return nil, why
		}
		m := newMap().set("sysctl", name)
		if state == "absent" {
			return one(m.set("state", "absent"))
		}
		v, why := must("value")
		if why != "" {
			return nil, why
		}
		return one(m.set("value", v))
	case "git":
		dest, why := must("dest")
		if why != "" {
			return nil, why
		}
		repo, why := must("repo")
		if why != "" {
			return nil, why
		}
		rev, _ := str("version")
		if rev == "" {
			rev = "HEAD"
		}
		return one(newMap().set("git", dest).set("repo", repo).set("revision", rev))
	case "postgresql_db":
		name, why := must("name", "db")
		if why != "" {
			return nil, why
		}
		m := newMap().set("postgres_database", name)
		if state == "absent" {
			return nil, "state absent of a database: declare it with state: absent and delete_data: true by hand"
		}
		if o, _ := str("owner"); o != "" {
			m.set("owner", o)
		}
		if e, _ := str("encoding"); e != "" {
			m.set("encoding", e)
		}
		return one(m)
	case "postgresql_user":
		name, why := must("name", "user")
		if why != "" {
			return nil, why
		}
		m := newMap().set("postgres_role", name)
		if state == "absent" {
			return one(m.set("state", "absent"))
		}
		login := true
		flags, _ := str("role_attr_flags")
		for _, f := range strings.Split(flags, ",") {
			switch strings.ToUpper(strings.TrimSpace(f)) {
			case "":
			case "LOGIN":
			case "NOLOGIN":
				login = false
			case "SUPERUSER", "CREATEDB", "CREATEROLE":
				m.set(strings.ToLower(strings.TrimSpace(f)), true)
			default:
				return nil, "role_attr_flags " + f + " is not converted"
			}
		}
		m.set("login", login)
		if p, _ := str("password"); p != "" {
			m.set("password", p)
		}
		return one(m)
	case "authorized_key":
		user, why := must("user")
		if why != "" {
			return nil, why
		}
		key, why := must("key")
		if why != "" {
			return nil, why
		}
		if strings.HasPrefix(key, "{{ lookup") || strings.Contains(key, "lookup(") {
			return nil, "a key read by lookup: put the key in a variable"
		}
		var keys []string
		for _, k := range strings.Split(key, "\n") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		m := newMap().set("authorized_keys", user).set("keys", keys)
		if state == "absent" {
			m.set("state", "absent")
		}
		if truthy(a["exclusive"]) {
			m.set("exclusive", true)
		}
		return one(m)
	case "lineinfile":
		path, why := must("path", "dest")
		if why != "" {
			return nil, why
		}
		if a["mode"] != nil || a["owner"] != nil || a["group"] != nil {
			return nil, "mode, owner or group of a file tend does not own: declare the file, or leave them"
		}
		re, _ := str("regexp", "regex")
		line, _ := str("line")
		m := newMap().set("line", r.label(filepath.Base(path)+"-"+t.name)).set("path", path)
		if re == "" {
			if line == "" {
				return nil, "neither regexp nor line"
			}
			re = "^" + regexp.QuoteMeta(line) + "$"
		}
		m.set("match", re)
		if state == "absent" {
			return one(m.set("state", "absent"))
		}
		if line == "" {
			return nil, "line is required"
		}
		if rx, err := regexp.Compile(re); err != nil || (!strings.Contains(line, "{{") && !rx.MatchString(line)) {
			return nil, "line does not match regexp (tend's line must match its match)"
		}
		m.set("text", line)
		if ia, _ := str("insertafter"); ia != "" && ia != "EOF" {
			m.set("insert_after", ia)
		}
		if truthy(a["create"]) {
			m.set("create", true)
		}
		return one(m)
	case "blockinfile":
		path, why := must("path", "dest")
		if why != "" {
			return nil, why
		}
		block, err := str("block", "content")
		if err != nil {
			return nil, err.Error()
		}
		marker, _ := str("marker")
		if marker == "" {
			marker = "# {mark} ANSIBLE MANAGED BLOCK"
		}
		if !strings.HasSuffix(block, "\n") && block != "" {
			block += "\n"
		}
		m := newMap().set("block", r.label(filepath.Base(path)+"-"+t.name)).set("path", path).set("marker", marker).set("content", block)
		if ia, _ := str("insertafter"); ia != "" && ia != "EOF" {
			m.set("insert_after", ia)
		}
		if ib, _ := str("insertbefore"); ib != "" {
			if ib == "BOF" {
				return nil, "insertbefore BOF is not converted"
			}
			m.set("insert_before", ib)
		}
		if truthy(a["create"]) {
			m.set("create", true)
		}
		return one(m)
	case "command", "shell":
		creates, _ := str("creates")
		if creates == "" {
			return nil, "a command without creates runs on every Ansible run; tend's command kind runs once or when guarded: add creates (or convert it by hand with unless)"
		}
		if a["chdir"] != nil {
			return nil, "chdir: write cd DIR && ... in the command"
		}
		cmd, why := must("cmd")
		if why != "" {
			return nil, why
		}
		m := newMap().set("command", r.label(t.name)).set("run", cmd).set("creates", creates)
		if n, ok := t.keys["become_user"]; ok {
			m.set("user", n.Value)
		}
		return one(m)
	}
	return nil, "module " + t.module + " is not converted"
}

// convertTemplateFile converts templates/SRC to a Go template once and
// returns its name in the tend role.
func (c *converter) convertTemplateFile(r *role, src string, sc scope) (string, string) {
	if strings.Contains(src, "{{") {
		return "", "a computed template name"
	}
	path := filepath.Join(r.dir, "templates", src)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "template " + src + " is not in the role's templates/"
	}
	name := strings.TrimSuffix(src, ".j2") + ".tmpl"
	key := "templates/" + name
	if _, done := r.files[key]; done {
		return name, ""
	}
	out, bad := convertTemplate(string(data), sc, c.defined(r))
	for _, b := range bad {
		c.problem(c.rel(path), b.line, "template expression "+strings.TrimSpace(b.text), b.why+"; kept as literal text")
	}
	r.files[key] = []byte(out)
	return name, ""
}

// truthy reads an Ansible boolean, which k=v arguments give as a string.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		switch strings.ToLower(v) {
		case "yes", "true", "on", "1":
			return true
		}
	}
	return false
}
