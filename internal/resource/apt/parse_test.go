package apt

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/resource"
)

func TestParseDpkgQuery(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      Installed
	}{
		{"installed", "ii |1.22.1-9\n", Installed{"ii ", "1.22.1-9"}},
		{"config files left", "rc |2.10-3\n", Installed{"rc ", ""}},
		{"not installed", "un |\n", Installed{"un ", ""}},
		{"half-configured", "iF |1.0\n", Installed{"iF ", "1.0"}},
		{"two architectures", "un |\nii |2.36\n", Installed{"ii ", "2.36"}},
		{"nothing", "", Installed{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ParseDpkgQuery(tc.out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCandidate(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"hello:\n  Installed: (none)\n  Candidate: 2.10-3\n  Version table:\n     2.10-3 500\n", "2.10-3"},
		{"hello:\n  Installed: (none)\n  Candidate: (none)\n", ""},
		{"", ""}, // unknown to the cache: apt-cache prints nothing
	} {
		if got := ParseCandidate(tc.out); got != tc.want {
			t.Errorf("ParseCandidate(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

func TestParseRemovals(t *testing.T) {
	out := "Reading package lists...\nThe following packages will be REMOVED:\n  jq libjq1\nRemv jq [1.6-2.1]\nRemv libjq1:amd64 [1.6-2.1]\n"
	if diff := cmp.Diff([]string{"jq", "libjq1"}, ParseRemovals(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	purge := "The following packages will be REMOVED:\n  jq* libjq1*\nPurg jq [1.6-2.1]\nPurg libjq1 [1.6-2.1]\n"
	if diff := cmp.Diff([]string{"jq", "libjq1"}, ParseRemovals(purge)); diff != "" {
		t.Errorf("purge (-want +got):\n%s", diff)
	}
}

func TestNearest(t *testing.T) {
	names := []string{"nginx", "nginx-common", "jq", "hello", "libjq1", "git", "gif", "postgresql", "postgresql-15"}
	for _, tc := range []struct{ in, want string }{
		{"ngnix", "nginx"},          // two letters swapped
		{"nginy", "nginx"},          // one replaced
		{"postgres", "postgresql"},  // two missing
		{"postgresq", "postgresql"}, // one missing
		{"jqq", "jq"},
		{"gir", "gif"},  // a tie between git and gif: alphabetical
		{"postgre", ""}, // three missing: too far
		{"xyz", ""},
		{"nginx", ""}, // the name itself is no suggestion
	} {
		if got := Nearest(tc.in, names); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	inst := func(v string) Installed { return Installed{"ii ", v} }
	for _, tc := range []struct {
		name, state string
		have        Installed
		cand        string
		want        *resource.Change
	}{
		{"present, missing", Present, Installed{}, "2.10", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("version", "", "2.10")}}},
		{"present, not in the cache", Present, Installed{}, "", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("version", "", "(not in the apt cache yet: refreshed on apply)")}}},
		{"present, installed", Present, inst("2.9"), "2.10", nil},
		{"present, config files left", Present, Installed{"rc ", ""}, "2.10", &resource.Change{Action: resource.Create, Fields: []resource.Field{fld("version", "", "2.10")}}},
		{"present, half-configured", Present, Installed{"iF ", "2.10"}, "2.10", &resource.Change{Action: resource.Update, Fields: []resource.Field{fld("status", "half-configured", "installed")}}},
		{"latest, older", Latest, inst("2.9"), "2.10", &resource.Change{Action: resource.Update, Fields: []resource.Field{fld("version", "2.9", "2.10")}}},
		{"latest, newest", Latest, inst("2.10"), "2.10", nil},
		{"latest, cache forgot it", Latest, inst("2.10"), "", nil},
		{"absent, installed", Absent, inst("2.10"), "", &resource.Change{Action: resource.Delete, Fields: []resource.Field{fld("version", "2.10", "")}}},
		{"absent, config files left", Absent, Installed{"rc ", ""}, "", nil},
		{"absent, unknown", Absent, Installed{}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Decide(tc.state, tc.have, tc.cand)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListsAge(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	if got := ListsAge(dir, now); got < 100*365*24*time.Hour {
		t.Errorf("empty lists: age %v, want very old", got)
	}
	for name, age := range map[string]time.Duration{"a_Packages": 3 * time.Hour, "b_Release": 2 * time.Hour, "lock": 0} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "partial"), 0o755); err != nil { // new, but a directory
		t.Fatal(err)
	}
	if got := ListsAge(dir, now); got != 2*time.Hour {
		t.Errorf("age %v, want 2h (the newest list, not the lock or partial/)", got)
	}
}

func fld(name, from, to string) resource.Field {
	return resource.Field{Name: name, From: from, To: to}
}
