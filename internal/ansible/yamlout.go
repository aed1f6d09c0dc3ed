package ansible

import (
	"sort"

	"go.yaml.in/yaml/v3"
)

// omap is a YAML mapping written in the order its keys were set (a
// resource's kind comes first).
type omap struct {
	keys []string
	vals map[string]any
}

func newMap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) set(k string, v any) *omap {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
	return m
}

func (m *omap) has(k string) bool { _, ok := m.vals[k]; return ok }

func (m *omap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range m.keys {
		var v yaml.Node
		if err := v.Encode(m.vals[k]); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	return n, nil
}

// sortedMap turns a Go map into an omap with sorted keys.
func sortedMap(m map[string]any) *omap {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := newMap()
	for _, k := range keys {
		o.set(k, m[k])
	}
	return o
}

func marshal(header string, v any) ([]byte, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(header), b...), nil
}
