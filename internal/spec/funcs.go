package spec

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// The template functions beyond text/template's own: the few that
// Ansible's Jinja filters are used for every day (docs/spec.md,
// "Template functions"). Each takes its piped value last, so that
// {{ .list | join ", " }} reads like Jinja's {{ list | join(", ") }}.
//
// A secret must stay recognisable after a function changed it (base64,
// quoting, upper case...): a resource is marked sensitive when a secret
// value appears in it. So each function's result is recorded as a secret
// value too when one of its arguments holds one (see compiler.funcs).
func templateFuncs(taint func(in []any, out string) string) template.FuncMap {
	str := func(f func(args []any) (string, error)) func(args ...any) (string, error) {
		return func(args ...any) (string, error) {
			out, err := f(args)
			if err != nil {
				return "", err
			}
			return taint(args, out), nil
		}
	}
	return template.FuncMap{
		// default FALLBACK VALUE: VALUE unless it is empty ("", 0, false,
		// an empty list or map). An undeclared variable is still an error:
		// declare its default in the role's vars.
		"default": func(fallback, v any) any {
			if empty(v) {
				return fallback
			}
			return v
		},
		"join": str(func(a []any) (string, error) {
			if len(a) != 2 {
				return "", fmt.Errorf("join wants a separator and a list")
			}
			var parts []string
			switch l := a[1].(type) {
			case []any:
				for _, x := range l {
					parts = append(parts, fmt.Sprint(x))
				}
			case []string:
				parts = l
			default:
				return "", fmt.Errorf("join: %T is not a list", a[1])
			}
			return strings.Join(parts, fmt.Sprint(a[0])), nil
		}),
		"split": func(sep, s string) []any {
			var out []any
			for _, x := range strings.Split(s, sep) {
				out = append(out, taint([]any{s}, x))
			}
			return out
		},
		// quote: a double-quoted string with Go/JSON-style escapes, for
		// configuration files.
		"quote": str(func(a []any) (string, error) {
			return oneArg("quote", a, func(s string) string { return fmt.Sprintf("%q", s) })
		}),
		// squote: one argument for a POSIX shell, in single quotes.
		"squote": str(func(a []any) (string, error) {
			return oneArg("squote", a, func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" })
		}),
		"upper": str(func(a []any) (string, error) { return oneArg("upper", a, strings.ToUpper) }),
		"lower": str(func(a []any) (string, error) { return oneArg("lower", a, strings.ToLower) }),
		"trim":  str(func(a []any) (string, error) { return oneArg("trim", a, strings.TrimSpace) }),
		"replace": str(func(a []any) (string, error) {
			if len(a) != 3 {
				return "", fmt.Errorf("replace wants OLD NEW and a string")
			}
			return strings.ReplaceAll(fmt.Sprint(a[2]), fmt.Sprint(a[0]), fmt.Sprint(a[1])), nil
		}),
		// indent N: every line indented by N spaces; nindent: the same,
		// after a newline (for a block under a YAML key).
		"indent": str(func(a []any) (string, error) { return indent(a, "") }),
		"nindent": str(func(a []any) (string, error) {
			s, err := indent(a, "")
			return "\n" + s, err
		}),
		"to_json": str(func(a []any) (string, error) {
			if len(a) != 1 {
				return "", fmt.Errorf("to_json wants one value")
			}
			b, err := json.Marshal(a[0])
			return string(b), err
		}),
		"to_yaml": str(func(a []any) (string, error) {
			if len(a) != 1 {
				return "", fmt.Errorf("to_yaml wants one value")
			}
			b, err := yaml.Marshal(a[0])
			return strings.TrimSuffix(string(b), "\n"), err
		}),
		"b64enc": str(func(a []any) (string, error) {
			return oneArg("b64enc", a, func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })
		}),
		"b64dec": str(func(a []any) (string, error) {
			if len(a) != 1 {
				return "", fmt.Errorf("b64dec wants one string")
			}
			b, err := base64.StdEncoding.DecodeString(fmt.Sprint(a[0]))
			if err != nil {
				return "", fmt.Errorf("b64dec: %v", err)
			}
			return string(b), nil
		}),
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"has_prefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"has_suffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	}
}

func oneArg(name string, a []any, f func(string) string) (string, error) {
	if len(a) != 1 {
		return "", fmt.Errorf("%s wants one value", name)
	}
	return f(fmt.Sprint(a[0])), nil
}

func indent(a []any, _ string) (string, error) {
	if len(a) != 2 {
		return "", fmt.Errorf("indent wants a width and a string")
	}
	n, ok := a[0].(int)
	if !ok || n < 0 {
		return "", fmt.Errorf("indent: the width %v is not a number of spaces", a[0])
	}
	pad := strings.Repeat(" ", n)
	lines := strings.Split(fmt.Sprint(a[1]), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n"), nil
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// parseFuncs is the function map templates are parsed with: the names
// only matter then (the compiler binds its own at execution).
var parseFuncs = templateFuncs(func(_ []any, out string) string { return out })

// execute renders t with the compiler's data and functions: a function's
// result that derives from a secret value is recorded as one.
func (c *compiler) execute(t *template.Template, w io.Writer) error {
	t, err := t.Clone()
	if err != nil {
		return err
	}
	t.Funcs(templateFuncs(func(in []any, out string) string {
		for _, a := range in {
			s := fmt.Sprint(a)
			for _, v := range c.secretValues {
				if strings.Contains(s, v) && out != "" && !strings.Contains(out, v) {
					c.secretValues = append(c.secretValues, out)
					return out
				}
			}
		}
		return out
	}))
	return t.Execute(w, c.data)
}
