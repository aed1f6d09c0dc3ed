package envdir

import (
	"strings"
	"testing"

	readenv "tend/internal/envdir"
	"tend/internal/spec"
)

func TestEncode(t *testing.T) {
	tests := []struct{ value, file string }{
		{"postgres://db/app", "postgres://db/app\n"},
		{"", "\n"},
		{"two\nlines", "two\x00lines\n"},
		{" leading", " leading\n"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got := Encode(tt.value)
			if string(got) != tt.file {
				t.Errorf("Encode = %q, want %q", got, tt.file)
			}
			if v, unset := readenv.Value(got); unset || v != tt.value {
				t.Errorf("envdir reads back %q (unset %v)", v, unset)
			}
		})
	}
}

// FuzzEncode: every value New accepts, envdir reads back exactly.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "x\ty", "\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if CheckValue(v) != nil {
			return
		}
		if got, unset := readenv.Value(Encode(v)); unset || got != v {
			t.Errorf("value %q reads back as %q (unset %v)", v, got, unset)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	for _, tt := range []struct {
		path string
		vars map[string]string
		want string
	}{
		{"relative", map[string]string{"A": "1"}, "absolute path"},
		{"/etc/app/env", map[string]string{"A": "trailing "}, "ends with a space or tab"},
		{"/etc/app/env", map[string]string{"A": "nul\x00"}, "NUL"},
		{"/etc/app/env", map[string]string{"A=B": "1"}, "invalid variable name"},
		{"/etc/app/env", map[string]string{".hidden": "1"}, "invalid variable name"},
	} {
		_, err := New(tt.path, &spec.Envdir{Vars: tt.vars})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q, %q): %v, want %q", tt.path, tt.vars, err, tt.want)
		}
	}
}
