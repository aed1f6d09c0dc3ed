package layout

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// Groups of packages, as the rules below name them (tend/internal/ left
// out). A name covers the package and everything below it.
var (
	controller = []string{"cli", "plan"}
	host       = []string{"agent", "resource"}
	backups    = []string{"pitr", "snapshot", "replica"}
	lab        = []string{"lab"}
)

func join(groups ...[]string) []string { return slices.Concat(groups...) }

// below says, for each layer, which tend packages it must not import. The
// layering it enforces is the one package layout's comment states.
var below = []struct {
	layer  string   // the package (and those below it)
	forbid []string // packages it must not use; "" forbids every tend package but hint
}{
	// The bottom: imported by everyone, importing (nearly) nothing.
	{"hint", []string{""}},
	{"retention", []string{""}},
	{"atomicfile", []string{""}},
	// Snapshot key derivation: the controller turns a write key into a
	// host key with it, without the repository code.
	{"snapkey", []string{""}},
	// The messages both ends speak: below both stacks and the backups,
	// so each of them may use it.
	{"wire", []string{""}},
	{"spec", join(controller, host, backups, lab, []string{"secret", "store", "transport", "wire", "job", "inventory"})},
	{"secret", join(controller, host, backups, lab, []string{"spec", "store", "transport", "wire", "job"})},
	{"seal", join(controller, host, backups, lab, []string{"store", "transport", "wire"})},
	{"envdir", join(controller, host, backups, lab, []string{"store", "transport", "wire", "job"})},

	// What reaches hosts: SSH, and choosing the hosts and their keys
	// (which needs no secret).
	{"transport", join(controller, host, backups, lab, []string{"store", "job", "inventory"})},
	{"inventory", join(controller, host, backups, []string{"secret", "store", "job"})},

	// The controller stack: cli -> plan -> transport, wire. plan knows
	// nothing of the host's runtime nor of the backups.
	{"plan", join([]string{"cli"}, host, backups, lab, []string{"store", "job"})},

	// The host stack: agent -> resource -> wire. The agent also serves
	// the host side of the backups (status, db calls).
	{"agent", join(controller, lab, []string{"store", "inventory"})},
	{"resource", join(controller, []string{"agent"}, lab, []string{"snapshot", "replica", "store"})},

	// The backups: cli -> pitr, snapshot, replica -> store; siblings that
	// do not import each other, nor any stack.
	{"pitr", join(controller, host, lab, []string{"snapshot", "replica", "transport", "spec", "job", "inventory"})},
	{"snapshot", join(controller, host, lab, []string{"pitr", "replica", "transport", "spec", "job", "inventory"})},
	{"replica", join(controller, host, lab, []string{"pitr", "snapshot", "transport", "spec", "job", "inventory"})},
	// The tunnels: certificates (used by plan) and the daemon (run by
	// the agent); neither stack.
	{"tunnel", join(controller, host, backups, lab, []string{"spec", "store", "transport", "inventory", "job", "secret"})},
	// DNS zones: the controller's, through libdns providers; no stack.
	{"dns", join(controller, host, backups, lab, []string{"store", "transport", "inventory", "job", "secret", "wire"})},
	{"job", join(controller, host, backups, lab, []string{"store", "transport", "inventory"})},
	{"store", join(controller, host, backups, lab, []string{"wire", "transport", "spec", "secret", "job"})},

	// The documentation is read from the compiled spec: no stack, no
	// host, no secret.
	{"docs", join(controller, host, backups, lab, []string{"secret", "store", "transport", "wire", "job", "inventory"})},
	// The Ansible importer reads files and writes a repository: no stack,
	// no host; secret for the vault.
	{"ansible", join(controller, host, backups, lab, []string{"spec", "store", "transport", "wire", "job", "inventory"})},
	{"roleimport", join(controller, host, backups, lab, []string{"secret", "store", "transport", "wire", "job", "inventory"})},

	// The lab builds test hosts; it drives no stack.
	{"lab", join(controller, host, backups, []string{"store"})},
}

const internal = "tend/internal/"

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

func TestImportsFlowOneWay(t *testing.T) {
	for _, p := range packages(t) {
		// Test-support packages (labtest, resourcetest, storetest) drive
		// the layers above them on purpose.
		testSupport := strings.HasSuffix(p.path[strings.LastIndex(p.path, "/")+1:], "test")
		for _, rule := range below {
			if testSupport {
				break
			}
			if !under(p.path, internal+rule.layer) {
				continue
			}
			for _, imp := range p.imports {
				if imp == internal+"hint" || !strings.HasPrefix(imp, internal) {
					continue
				}
				for _, f := range rule.forbid {
					if f == "" || under(imp, internal+f) {
						t.Errorf("%s imports %s: a lower layer must not depend on a higher one, nor a stack on another (see package layout)", p.path, imp)
						break
					}
				}
			}
		}
		if p.path != "tend/cmd/tend" {
			for _, imp := range p.imports {
				if imp == internal+"cli" {
					t.Errorf("%s imports internal/cli: only cmd/tend does", p.path)
				}
			}
		}
	}
}

// TestRulesNameRealPackages keeps the rules from going stale: a rule on a
// package that no longer exists protects nothing.
func TestRulesNameRealPackages(t *testing.T) {
	var paths []string
	for _, p := range packages(t) {
		paths = append(paths, p.path)
	}
	for _, rule := range below {
		if !slices.ContainsFunc(paths, func(p string) bool { return under(p, internal+rule.layer) }) {
			t.Errorf("rule for %s: no such package; remove or rename the rule", rule.layer)
		}
	}
}

// maxCLIFile is the most lines a file of internal/cli may have: a file is
// one command (flags, one call, printing) or a piece of the output layer.
const maxCLIFile = 300

// cliOversize lists the files still over maxCLIFile while they are split.
// Do not add to it: split the command instead (see snapshot_*.go).
var cliOversize = map[string]bool{}

func TestCLIFilesAreSmall(t *testing.T) {
	files, err := filepath.Glob("../cli/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in ../cli (%v)", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasSuffix(name, "_test.go") {
			continue // tests are not commands
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(data, []byte("\n"))
		switch {
		case n > maxCLIFile && !cliOversize[name]:
			t.Errorf("internal/cli/%s has %d lines, more than %d: split it per subcommand (parse flags, call one function of its package, print), and move engine code into its package", name, n, maxCLIFile)
		case n <= maxCLIFile && cliOversize[name]:
			t.Errorf("internal/cli/%s has %d lines: remove it from cliOversize in internal/layout/layout_test.go", name, n)
		}
	}
	for name := range cliOversize {
		if _, err := os.Stat(filepath.Join("../cli", name)); err != nil {
			t.Errorf("cliOversize names %s, which is gone: remove it from the list", name)
		}
	}
}
