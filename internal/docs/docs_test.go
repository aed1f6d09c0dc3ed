package docs

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the generated docs of the examples and the golden files")

// cases are the specs whose generated pages are committed: each example
// (its docs/ folder, which CI keeps current) and the richer test spec.
func cases(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"testdata/rich": "testdata/rich.golden"}
	examples, err := filepath.Glob("../../examples/*/tend.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples (%v)", err)
	}
	for _, e := range examples {
		dir := filepath.Dir(e)
		out[dir] = filepath.Join(dir, "docs")
	}
	return out
}

func load(t *testing.T, dir string) *spec.Repo {
	t.Helper()
	r, err := spec.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCommittedDocsAreCurrent is CI's check that the generated docs of
// every example (and the golden pages of the test spec) are what the spec
// gives today, through the same Check as tend docs --check.
func TestCommittedDocsAreCurrent(t *testing.T) {
	for repo, out := range cases(t) {
		t.Run(repo, func(t *testing.T) {
			files, err := Generate(load(t, repo), nil)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := Write(out, files); err != nil {
					t.Fatal(err)
				}
			}
			stale, err := Check(out, files, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stale {
				t.Errorf("%s/%s: %s: regenerate with go test ./internal/docs -run TestCommittedDocsAreCurrent -update (or, at the top of the repository, tend docs --repo %s --out %s)", out, s.Path, s.Why, fromTop(repo), fromTop(out))
			}
		})
	}
}

// TestCheckReports: Check names a page that differs, one that is
// missing, and a generated page of an environment that is gone, and
// leaves a hand-written page alone.
func TestCheckReports(t *testing.T) {
	files, err := Generate(load(t, "testdata/rich"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if stale, err := Check(dir, files, true); err != nil || len(stale) != 0 {
		t.Fatalf("fresh pages: %v %v", stale, err)
	}
	os.WriteFile(filepath.Join(dir, "staging.md"), append(files[1].Data, "edited by hand\n"...), 0o644)
	os.Remove(filepath.Join(dir, "production.md"))
	os.WriteFile(filepath.Join(dir, "old.md"), []byte(Marker+"\n# old\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("# written by hand\n"), 0o644)
	stale, err := Check(dir, files, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stale{{"old.md", "no environment old in the spec"}, {"production.md", "missing"}, {"staging.md", "differs"}}
	if len(stale) != len(want) {
		t.Fatalf("got %v, want %v", stale, want)
	}
	for i := range want {
		if stale[i] != want[i] {
			t.Errorf("got %v, want %v", stale[i], want[i])
		}
	}
	// Only the environments asked for: other pages are not judged.
	if stale, _ := Check(dir, files[1:], false); len(stale) != 1 || stale[0].Path != "staging.md" {
		t.Errorf("one environment: %v", stale)
	}
}

// TestDeterministic: the same spec gives the same bytes, wherever the
// repository is, and the page holds no path of this machine.
func TestDeterministic(t *testing.T) {
	src := "testdata/rich"
	copyDir := filepath.Join(t.TempDir(), "elsewhere")
	if out, err := exec.Command("cp", "-r", src, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	a, err := Generate(load(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		b, err := Generate(load(t, copyDir), nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range a {
			if !bytes.Equal(a[j].Data, b[j].Data) {
				t.Fatalf("%s differs between two runs", a[j].Path)
			}
		}
	}
	abs, _ := filepath.Abs(src)
	for _, f := range a {
		for _, p := range []string{abs, copyDir, os.TempDir()} {
			if bytes.Contains(f.Data, []byte(p)) {
				t.Errorf("%s holds the path %s", f.Path, p)
			}
		}
	}
}

// TestSpecErrorWritesNothing: a spec that does not compile is an error
// with file:line:column, and nothing is generated.
func TestSpecErrorWritesNothing(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "testdata/rich/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	role := filepath.Join(dir, "roles/web/role.yaml")
	data, _ := os.ReadFile(role)
	os.WriteFile(role, bytes.Replace(data, []byte(`"role:app:8080"`), []byte(`"role:nosuch:8080"`), 1), 0o644)
	files, err := Generate(load(t, dir), nil)
	if err == nil || files != nil {
		t.Fatalf("files %d, err %v", len(files), err)
	}
	if !strings.Contains(err.Error(), "roles/web/role.yaml:9:17: site main: upstream role:nosuch:8080: no role \"nosuch\"") {
		t.Errorf("error: %v", err)
	}
}

// fromTop gives a path of this package's tests from the repository's top.
func fromTop(p string) string {
	if rest, ok := strings.CutPrefix(p, "../../"); ok {
		return rest
	}
	return "internal/docs/" + p
}

// TestManualExcerpt keeps docs/docs.md true: every line of its excerpt of
// the foi example's page is in that page, in the same order.
func TestManualExcerpt(t *testing.T) {
	manual, err := os.ReadFile("../../docs/docs.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(manual), "\n````markdown\n")
	excerpt, _, ok2 := strings.Cut(rest, "\n````\n")
	if !ok || !ok2 {
		t.Fatal("docs/docs.md has no ````markdown excerpt")
	}
	page, err := Render(load(t, "../../examples/foi"), "production")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(page), "\n")
	i := 0
	for _, want := range strings.Split(excerpt, "\n") {
		if want == "" {
			continue
		}
		for i < len(lines) && lines[i] != want {
			i++
		}
		if i == len(lines) {
			t.Errorf("docs/docs.md's excerpt has %q, which the page of examples/foi production does not have there", want)
			return
		}
	}
}
