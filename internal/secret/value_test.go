package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const canaryValue = "canary-7f3c9e1b-value"

func TestValueRedacts(t *testing.T) {
	v := NewValue(canaryValue)
	type exported struct{ V Value }
	type unexported struct{ v Value }
	type ptr struct{ V *Value }
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%T"} {
		outputs[verb] = fmt.Sprintf(verb, v)
		outputs[verb+" exported"] = fmt.Sprintf(verb, exported{v})
		outputs[verb+" unexported"] = fmt.Sprintf(verb, unexported{v})
		outputs[verb+" pointer"] = fmt.Sprintf(verb, ptr{&v})
		outputs[verb+" slice"] = fmt.Sprintf(verb, []Value{v})
		outputs[verb+" map"] = fmt.Sprintf(verb, map[string]Value{"k": v})
	}
	outputs["String"] = v.String()
	outputs["GoString"] = v.GoString()
	outputs["error"] = fmt.Errorf("wrap: %w", fmt.Errorf("%v", v)).Error()
	j, err := json.Marshal(map[string]any{"v": v, "e": exported{v}})
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(map[string]any{"v": v, "e": exported{v}})
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", v, "e", exported{v})
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", v, "e", exported{v})
	outputs["slog"] = logs.String()
	for what, out := range outputs {
		t.Run(what, func(t *testing.T) {
			if strings.Contains(out, canaryValue) || strings.Contains(out, fmt.Sprintf("%x", canaryValue)) {
				t.Errorf("plaintext leaked: %s", out)
			}
		})
	}
	if !strings.Contains(outputs["%v"], Redacted) || !strings.Contains(outputs["json"], Redacted) {
		t.Errorf("redaction marker missing: %q %q", outputs["%v"], outputs["json"])
	}
	if got := v.Reveal(); got != canaryValue {
		t.Errorf("Reveal() = %q", got)
	}
}

func TestValueEqual(t *testing.T) {
	tests := []struct {
		a, b Value
		want bool
	}{
		{NewValue("x"), NewValue("x"), true},
		{NewValue("x"), NewValue("y"), false},
		{Value{}, NewValue(""), true},
		{NewValue("x"), Value{}, false},
	}
	for i, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("case %d: Equal = %v, want %v", i, got, tt.want)
		}
	}
}
