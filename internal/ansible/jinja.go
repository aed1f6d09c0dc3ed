package ansible

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// scope is what an expression is converted in: the loop variables of
// enclosing for blocks ($name in Go) and whether `item` is a for_each item.
type scope struct {
	locals map[string]bool
	item   bool
}

// identMap: Ansible's magic variables and facts that tend has.
var identMap = map[string]string{
	"inventory_hostname":                 ".host.name",
	"inventory_hostname_short":           ".host.name",
	"ansible_host":                       ".host.address",
	"group_names":                        ".host.groups",
	"ansible_distribution_release":       ".facts.os.codename",
	"ansible_distribution_major_version": ".facts.os.version_id",
	"ansible_processor_vcpus":            ".facts.cpus",
	"ansible_processor_nproc":            ".facts.cpus",
	"ansible_memtotal_mb":                ".facts.memory_mb",
}

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,15})?$`)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// term converts one operand: a variable path, a string or a number.
func (sc scope) term(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty operand")
	}
	if (s[0] == '\'' || s[0] == '"') && len(s) >= 2 && s[len(s)-1] == s[0] {
		inner := s[1 : len(s)-1]
		if strings.ContainsAny(inner, `'"\`) {
			return "", fmt.Errorf("string %s with quotes or escapes", s)
		}
		return strconv.Quote(inner), nil
	}
	if numberRE.MatchString(s) {
		return s, nil
	}
	switch s {
	case "true", "True":
		return "true", nil
	case "false", "False":
		return "false", nil
	}
	// a.b.c or a['b'] or a["b"]
	path := regexp.MustCompile(`\[['"]([A-Za-z0-9_]+)['"]\]`).ReplaceAllString(s, ".$1")
	parts := strings.Split(path, ".")
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("%q is not a variable, a string or a number", s)
		}
	}
	head, rest := parts[0], strings.Join(parts[1:], ".")
	if rest != "" {
		rest = "." + rest
	}
	switch {
	case sc.locals[head]:
		return "$" + head + rest, nil
	case head == "item" && sc.item:
		return ".item" + rest, nil
	case head == "item":
		return "", fmt.Errorf("item outside a loop")
	case identMap[head] != "":
		if rest != "" {
			return "", fmt.Errorf("%s has no fields in tend", head)
		}
		return identMap[head], nil
	case strings.HasPrefix(head, "vault_"):
		return "." + strings.TrimPrefix(head, "vault_") + rest, nil
	case strings.HasPrefix(head, "ansible_") || strings.HasPrefix(head, "hostvars") || head == "groups" || head == "loop" || head == "lookup":
		return "", fmt.Errorf("%s has no counterpart in tend", head)
	}
	return "." + head + rest, nil
}

// filterMap: Jinja filter -> tend template function, and how many arguments.
var filterMap = map[string]struct {
	fn   string
	args int
}{
	"default": {"default", 1}, "d": {"default", 1},
	"join":  {"join", 1},
	"upper": {"upper", 0}, "lower": {"lower", 0}, "trim": {"trim", 0},
	"quote":   {"squote", 0},
	"to_json": {"to_json", 0}, "to_nice_json": {"to_json", 0}, "to_yaml": {"to_yaml", 0},
	"b64encode": {"b64enc", 0}, "b64decode": {"b64dec", 0},
	"replace": {"replace", 2},
	"indent":  {"indent", 1},
	"string":  {"", 0},
}

var filterRE = regexp.MustCompile(`^([a-z_0-9]+)\s*(?:\((.*)\))?$`)

// expr converts a Jinja expression with filters to a Go pipeline.
func (sc scope) expr(s string) (string, error) {
	parts := splitTop(s, '|')
	out, err := sc.term(parts[0])
	if err != nil {
		return "", err
	}
	for _, f := range parts[1:] {
		m := filterRE.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			return "", fmt.Errorf("filter %q not understood", strings.TrimSpace(f))
		}
		spec, ok := filterMap[m[1]]
		if !ok {
			return "", fmt.Errorf("filter %s has no counterpart in tend", m[1])
		}
		var args []string
		if strings.TrimSpace(m[2]) != "" {
			args = splitTop(m[2], ',')
		}
		if m[1] == "default" || m[1] == "d" {
			if len(args) == 2 {
				args = args[:1] // default(x, true): tend's default replaces empty values anyway
			}
		}
		if m[1] == "join" && len(args) == 0 {
			args = []string{`""`}
		}
		if len(args) != spec.args {
			return "", fmt.Errorf("filter %s with %d arguments", m[1], len(args))
		}
		if spec.fn == "" {
			continue
		}
		conv := []string{spec.fn}
		for _, a := range args {
			t, err := sc.term(a)
			if err != nil {
				return "", fmt.Errorf("filter %s: %w", m[1], err)
			}
			conv = append(conv, t)
		}
		out += " | " + strings.Join(conv, " ")
	}
	return out, nil
}

// cond converts a `when` or `if` condition to a Go template expression
// (without the braces): comparisons, tests for defined, not, and/or.
func (sc scope) cond(s string, defined func(string) (bool, bool)) (string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "()") {
		return "", fmt.Errorf("parentheses or calls")
	}
	for _, op := range []string{" or ", " and "} {
		if parts := strings.Split(s, op); len(parts) > 1 {
			var conv []string
			for _, p := range parts {
				c, err := sc.cond(p, defined)
				if err != nil {
					return "", err
				}
				if c == "true" {
					if op == " or " {
						return "true", nil
					}
					continue
				}
				conv = append(conv, "("+c+")")
			}
			if len(conv) == 0 {
				return "true", nil
			}
			if len(conv) == 1 {
				return strings.Trim(conv[0], "()"), nil
			}
			return strings.TrimSpace(op) + " " + strings.Join(conv, " "), nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "not "); ok {
		c, err := sc.cond(rest, defined)
		if err != nil {
			return "", err
		}
		return "not (" + c + ")", nil
	}
	for _, t := range []struct{ suffix, neg string }{{" is defined", ""}, {" is not defined", "not"}, {" is undefined", "not"}} {
		if name, ok := strings.CutSuffix(s, t.suffix); ok {
			if defined == nil {
				return "", fmt.Errorf("is defined")
			}
			d, known := defined(strings.TrimSpace(name))
			if !known {
				return "", fmt.Errorf("%q is defined on some hosts only: declare a default in the role's vars and test its value", strings.TrimSpace(name))
			}
			if d == (t.neg == "") {
				return "true", nil
			}
			return "false", nil
		}
	}
	for _, op := range []struct{ jinja, fn string }{{"==", "eq"}, {"!=", "ne"}, {">=", "ge"}, {"<=", "le"}, {">", "gt"}, {"<", "lt"}} {
		if a, b, ok := strings.Cut(s, op.jinja); ok {
			var x string
			var err error
			if a := strings.TrimSpace(a); a == "ansible_distribution" || a == "ansible_os_family" {
				x, b = ".facts.os.id", strings.ToLower(b)
			} else if x, err = sc.expr(a); err != nil {
				return "", err
			}
			y, err := sc.expr(b)
			if err != nil {
				return "", err
			}
			return op.fn + " " + paren(x) + " " + paren(y), nil
		}
	}
	if strings.Contains(s, " in ") || strings.Contains(s, " is ") {
		return "", fmt.Errorf("%q: only ==, !=, <, >, is defined, not, and, or are converted", s)
	}
	return sc.expr(s)
}

func paren(s string) string {
	if strings.Contains(s, " ") {
		return "(" + s + ")"
	}
	return s
}

// splitTop splits s on sep outside quotes and parentheses.
func splitTop(s string, sep rune) []string {
	var out []string
	depth, quote, start := 0, rune(0), 0
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '(' || r == '[':
			depth++
		case r == ')' || r == ']':
			depth--
		case r == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// jinjaTag matches {{ }}, {% %} and {# #} with their whitespace controls.
var jinjaTag = regexp.MustCompile(`(?s)\{\{(-?)(.*?)(-?)\}\}|\{%(-?)(.*?)(-?)%\}|\{#.*?#\}`)

// unconverted is a piece of a template kept as text, with its line.
type unconverted struct {
	line int
	text string
	why  string
}

// convertTemplate converts Jinja text to a Go template. What it cannot
// convert stays in the output as literal text and is returned. Ansible's
// template module trims the newline after a block tag (trim_blocks); so
// does this conversion.
func convertTemplate(src string, sc scope, defined func(string) (bool, bool)) (string, []unconverted) {
	var out strings.Builder
	var bad []unconverted
	type frame struct{ locals []string }
	var stack []frame
	locals := map[string]bool{}
	for k, v := range sc.locals {
		locals[k] = v
	}
	pos := 0
	for _, m := range jinjaTag.FindAllStringSubmatchIndex(src, -1) {
		out.WriteString(plain(src[pos:m[0]]))
		tag := src[m[0]:m[1]]
		line := strings.Count(src[:m[0]], "\n") + 1
		pos = m[1]
		literal := func(why string) {
			bad = append(bad, unconverted{line, tag, why})
			out.WriteString("{{" + strconv.Quote(tag) + "}}")
		}
		cur := scope{locals: locals, item: sc.item}
		switch {
		case strings.HasPrefix(tag, "{#"):
			// a comment: dropped with its newline, as Jinja's trim_blocks does
			if pos < len(src) && src[pos] == '\n' {
				pos++
			}
		case strings.HasPrefix(tag, "{{"):
			e, err := cur.expr(src[m[4]:m[5]])
			if err != nil {
				literal(err.Error())
				continue
			}
			out.WriteString("{{" + dash(m, 2, src, true) + e + dash(m, 6, src, false) + "}}")
		default:
			stmt := strings.TrimSpace(src[m[10]:m[11]])
			word, rest, _ := strings.Cut(stmt, " ")
			var g string
			if (word == "else" || word == "elif") && len(stack) == 0 {
				literal(word + " outside a block")
				continue
			}
			switch word {
			case "if", "elif":
				c, err := cur.cond(rest, defined)
				if err != nil {
					literal(err.Error())
					continue
				}
				g = word + " " + c
				if word == "elif" {
					g = "else if " + c
				}
				if word == "if" {
					stack = append(stack, frame{})
				}
			case "else":
				g = "else"
			case "endif", "endfor":
				if len(stack) == 0 {
					literal("end without a start")
					continue
				}
				for _, l := range stack[len(stack)-1].locals {
					delete(locals, l)
				}
				stack = stack[:len(stack)-1]
				g = "end"
			case "for":
				vars, seq, ok := strings.Cut(rest, " in ")
				if !ok {
					literal("for without in")
					continue
				}
				seq = strings.TrimSpace(seq)
				seq = strings.TrimSuffix(seq, ".items()")
				e, err := cur.expr(seq)
				if err != nil {
					literal(err.Error())
					continue
				}
				var names []string
				for _, v := range strings.Split(vars, ",") {
					names = append(names, strings.TrimSpace(v))
				}
				if len(names) > 2 || !identRE.MatchString(names[0]) || (len(names) == 2 && !identRE.MatchString(names[1])) {
					literal("for over more than a key and a value")
					continue
				}
				decl := "$" + names[0]
				if len(names) == 1 && strings.HasSuffix(strings.TrimSpace(rest), ".items()") {
					literal("for over items() with one variable")
					continue
				}
				if len(names) == 2 {
					decl += ", $" + names[1]
				}
				g = "range " + decl + " := " + e
				for _, n := range names {
					locals[n] = true
				}
				stack = append(stack, frame{locals: names})
			default:
				literal(fmt.Sprintf("{%% %s %%} has no counterpart in tend", word))
				continue
			}
			out.WriteString("{{" + dash(m, 8, src, true) + g + dash(m, 12, src, false) + "}}")
			if pos < len(src) && src[pos] == '\n' && m[13] == m[12] {
				pos++ // trim_blocks
			}
		}
	}
	out.WriteString(plain(src[pos:]))
	for range stack {
		bad = append(bad, unconverted{strings.Count(src, "\n") + 1, "(end of file)", "a block is not closed: closed at the end"})
		out.WriteString("{{ end }}")
	}
	return out.String(), bad
}

// dash returns Go's whitespace trim marker where Jinja had one.
func dash(m []int, i int, src string, left bool) string {
	if m[i] < 0 || m[i] == m[i+1] {
		if left {
			return " "
		}
		return " "
	}
	if left {
		return "- "
	}
	return " -"
}

// convertString converts a task argument that may hold {{ }} expressions.
func convertString(s string, sc scope) (string, error) {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "{%") {
		return s, nil
	}
	out, bad := convertTemplate(s, sc, nil)
	if len(bad) > 0 {
		return "", fmt.Errorf("%s: %s", strings.TrimSpace(bad[0].text), bad[0].why)
	}
	return out, nil
}

// plain keeps text outside tags as text: a stray {{ (one Jinja would refuse
// too) is written so that Go prints it instead of parsing it.
func plain(s string) string {
	s = strings.ReplaceAll(s, "{{", `{{"{{"}}`)
	if strings.HasSuffix(s, "{") { // a tag follows: "{" + "{{" would open one
		s = s[:len(s)-1] + `{{"{"}}`
	}
	return s
}
