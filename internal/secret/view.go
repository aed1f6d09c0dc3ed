package secret

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RenderView returns the decrypted view that `tend secret edit` opens in an
// editor: a YAML mapping of names to values, sorted by name, with a comment
// header. ParseView(RenderView(v)) gives back v exactly.
func RenderView(env string, values map[string]Value) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# tend secret edit: environment %s
# One secret per entry, "vault_name: value" (YAML: quote or use | for
# multi-line values). Add, change or delete entries, then save and quit:
# only changed values are encrypted again. Quitting with an error status or
# leaving no entries at all changes nothing.
`, env)
	if len(values) == 0 {
		return b.Bytes(), nil
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range sortedKeys(values) {
		v := &yaml.Node{}
		if err := v.Encode(values[name].Reveal()); err != nil {
			return nil, fmt.Errorf("render secret %s: encoding failed", name)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, v)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, errors.New("render secrets: encoding failed")
	}
	enc.Close()
	return b.Bytes(), nil
}

// yamlLine finds the line number in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// ParseView parses an edited view. Its errors give the line and never a
// value. It returns empty (nil, nil) when the view holds no entry.
func ParseView(data []byte) (map[string]Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 syntax errors describe the problem, not the text; keep
		// only the line and that description.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("line %s: YAML syntax error: %s", m[1], strings.TrimPrefix(msg, "line "+m[1]+": "))
		}
		return nil, fmt.Errorf("YAML syntax error: %s", msg)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected entries 'vault_name: value'", m.Line)
	}
	values := map[string]Value{}
	lines := map[string]int{}
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: a secret name must be a plain word", k.Line))
			continue
		}
		if err := CheckName(k.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v", k.Line, err))
			continue
		}
		if prev, dup := lines[k.Value]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s is listed twice (also line %d)", k.Line, k.Value, prev))
			continue
		}
		lines[k.Value] = k.Line
		switch {
		case v.Kind == yaml.AliasNode:
			errs = append(errs, fmt.Errorf("line %d: %s: aliases are not allowed, write the value", v.Line, k.Value))
		case v.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("line %d: %s: the value must be a string, not a list or a mapping", v.Line, k.Value))
		case v.Tag == "!!null" && v.Value == "":
			errs = append(errs, fmt.Errorf("line %d: %s has no value (write \"\" for an empty one)", v.Line, k.Value))
		default:
			values[k.Value] = NewValue(v.Value)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return values, nil
}
