package layout

import (
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	path, doc string
	imports   []string
}

func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}\t{{join .Imports \" \"}}", "tend/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		ps = append(ps, pkg{f[0], f[1], strings.Fields(f[2])})
	}
	return ps
}

func TestPackageComments(t *testing.T) {
	for _, p := range packages(t) {
		if p.doc == "" {
			t.Errorf("%s has no package comment", p.path)
		}
	}
}

// below says which tend packages each layer must not import.
var below = []struct {
	layer  string   // import path prefix
	forbid []string // import path prefixes it must not use
}{
	{"tend/internal/hint", []string{"tend/internal/"}},
	{"tend/internal/spec", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/resource", "tend/internal/secret", "tend/internal/lab", "tend/internal/store", "tend/internal/transport"}},
	{"tend/internal/secret", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/resource", "tend/internal/spec", "tend/internal/lab", "tend/internal/store"}},
	{"tend/internal/transport", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/resource", "tend/internal/lab"}},
	{"tend/internal/resource", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/lab"}},
	{"tend/internal/agent", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/lab"}},
	{"tend/internal/plan", []string{"tend/internal/cli", "tend/internal/lab"}},
	{"tend/internal/store", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/resource", "tend/internal/lab"}},
	{"tend/internal/seal", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/lab"}},
	{"tend/internal/lab", []string{"tend/internal/cli", "tend/internal/plan", "tend/internal/agent", "tend/internal/resource"}},
}

func TestImportsFlowOneWay(t *testing.T) {
	for _, p := range packages(t) {
		// Test-support packages (labtest, resourcetest, storetest) drive
		// the layers above them on purpose.
		testSupport := strings.HasSuffix(p.path[strings.LastIndex(p.path, "/")+1:], "test")
		for _, rule := range below {
			if testSupport {
				break
			}
			if p.path != rule.layer && !strings.HasPrefix(p.path, rule.layer+"/") {
				continue
			}
			for _, imp := range p.imports {
				for _, f := range rule.forbid {
					if (imp == f || strings.HasPrefix(imp, f+"/") || strings.HasSuffix(f, "/") && strings.HasPrefix(imp, f)) && imp != "tend/internal/hint" {
						t.Errorf("%s imports %s: a lower layer must not depend on a higher one", p.path, imp)
					}
				}
			}
		}
		if p.path != "tend/cmd/tend" {
			for _, imp := range p.imports {
				if imp == "tend/internal/cli" {
					t.Errorf("%s imports internal/cli: only cmd/tend does", p.path)
				}
			}
		}
	}
}
