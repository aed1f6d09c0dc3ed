package envdir

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/testenv"
)

func TestValue(t *testing.T) {
	tests := []struct {
		name, content, want string
		unset               bool
	}{
		{"empty file unsets", "", "", true},
		{"newline only sets empty", "\n", "", false},
		{"plain", "value", "value", false},
		{"first line only", "first\nsecond\n", "first", false},
		{"trailing spaces and tabs", "v \t \t\nrest", "v", false},
		{"leading spaces kept", "  v", "  v", false},
		{"carriage return kept", "v\r\n", "v\r", false},
		{"only blanks", " \t ", "", false},
		{"NUL becomes newline", "a\x00b", "a\nb", false},
		{"NUL after trimming", "a\x00 \n", "a\n", false},
		{"equals in value", "a=b=c", "a=b=c", false},
		{"UTF-8", "héllo wörld", "héllo wörld", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unset := Value([]byte(tt.content))
			if got != tt.want || unset != tt.unset {
				t.Errorf("Value(%q) = %q, %v; want %q, %v", tt.content, got, unset, tt.want, tt.unset)
			}
		})
	}
}

// cases is a directory's files, shared by the tests below and compared with
// the real envdir.
var cases = map[string]string{
	"PLAIN":     "plain value\n",
	"TRAILING":  "trail \t \n",
	"MULTI":     "line one\nline two\n",
	"NULS":      "a\x00b\x00",
	"EMPTYVAL":  "\n",
	"REMOVED":   "",
	"KEEP_LEAD": "  lead",
	"UNICODE_É": "ü",
	".hidden":   "must be ignored",
	"EQUALS":    "x=y",
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var baseEnv = []string{"PATH=/usr/bin:/bin", "REMOVED=was here", "PLAIN=old", "OTHER=kept", "PLAIN=duplicate"}

func TestReadApply(t *testing.T) {
	changes, err := Read(writeDir(t, cases))
	if err != nil {
		t.Fatal(err)
	}
	got := Apply(baseEnv, changes)
	want := []string{"PATH=/usr/bin:/bin", "OTHER=kept",
		"EMPTYVAL=", "EQUALS=x=y", "KEEP_LEAD=  lead", "MULTI=line one", "NULS=a\nb\n", "PLAIN=plain value",
		"TRAILING=trail", "UNICODE_É=ü"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
	if !slices.Equal(baseEnv, []string{"PATH=/usr/bin:/bin", "REMOVED=was here", "PLAIN=old", "OTHER=kept", "PLAIN=duplicate"}) {
		t.Error("Apply modified its input")
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "no such file"},
		{"name with equals", func(t *testing.T) string { return writeDir(t, map[string]string{"A=B": "x"}) }, "contains '='"},
		{"subdirectory", func(t *testing.T) string {
			d := writeDir(t, map[string]string{"A": "x"})
			os.Mkdir(filepath.Join(d, "SUB"), 0o700)
			return d
		}, "SUB: is a directory"},
		{"dangling symlink", func(t *testing.T) string {
			d := writeDir(t, nil)
			os.Symlink("/nonexistent/target", filepath.Join(d, "LINK"))
			return d
		}, "LINK: no such file"},
		{"too large", func(t *testing.T) string {
			return writeDir(t, map[string]string{"BIG": strings.Repeat("x", MaxFileSize+1)})
		}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			_, err := Read(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Read = %v, want an error naming %s and containing %q", err, dir, tt.want)
			}
		})
	}
}

// TestDaemontools compares with the real envdir from Debian's daemontools.
func TestDaemontools(t *testing.T) {
	real, err := exec.LookPath("envdir")
	testenv.Need(t, "daemontools envdir (apt-get install daemontools)", err)
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for k, v := range cases {
		files[k] = v
	}
	// More odd contents, one file each.
	for i, content := range []string{"\x00", " \x00 ", "\t\n\t", "a\r", "tail\x00\n", "x\n\n", "$HOME", "'q'"} {
		files["ODD"+string(rune('A'+i))] = content
	}
	dir := writeDir(t, files)
	cmd := exec.Command(real, dir, envBin, "-0")
	cmd.Env = baseEnv
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", real, err)
	}
	var want []string
	for _, kv := range bytes.Split(bytes.TrimSuffix(out, []byte{0}), []byte{0}) {
		want = append(want, string(kv))
	}
	changes, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := Apply(baseEnv, changes)
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment differs from daemontools envdir (-daemontools +ours):\n%s", diff)
	}
}

func FuzzValue(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Add([]byte("a\x00 \t\x00\n\x00"))
	f.Fuzz(func(t *testing.T, content []byte) {
		v, unset := Value(content)
		if unset != (len(content) == 0) {
			t.Fatalf("Value(%q) unset = %v", content, unset)
		}
		if strings.HasSuffix(v, " ") || strings.HasSuffix(v, "\t") {
			t.Errorf("Value(%q) = %q keeps trailing blanks", content, v)
		}
		first, _, _ := bytes.Cut(content, []byte{'\n'})
		if strings.Count(v, "\n") > bytes.Count(first, []byte{0}) || strings.ContainsRune(v, 0) {
			t.Errorf("Value(%q) = %q: newlines not from NULs, or NULs left", content, v)
		}
		if !strings.HasPrefix(string(bytes.ReplaceAll(first, []byte{0}, []byte{'\n'})), v) {
			t.Errorf("Value(%q) = %q is not a prefix of the first line", content, v)
		}
	})
}

func FuzzApply(f *testing.F) {
	f.Add("A=1\x00B=2\x00A=3", "A", "x", false)
	f.Add("PATH=/bin", "PATH", "", true)
	f.Fuzz(func(t *testing.T, envs, name, value string, unset bool) {
		if ValidName(name) != nil || strings.HasPrefix(name, ".") {
			return
		}
		env := strings.Split(envs, "\x00")
		out := Apply(env, []Change{{Name: name, Value: value, Unset: unset}})
		n := 0
		for _, kv := range out {
			k, v, _ := strings.Cut(kv, "=")
			if k == name {
				n++
				if v != value {
					t.Errorf("%s=%q, want %q", k, v, value)
				}
			}
		}
		if unset && n != 0 || !unset && n != 1 {
			t.Errorf("Apply left %d entries for %q (unset %v): %q", n, name, unset, out)
		}
	})
}
