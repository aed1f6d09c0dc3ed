package apt_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// status returns dpkg's status of packages on the host, asked without tend:
// "hello=ii jq=un" ("un" for unknown).
func status(t *testing.T, l *labtest.Lab, pkgs ...string) string {
	t.Helper()
	var out []string
	for _, p := range pkgs {
		s, err := l.Enter(t, "host1", "dpkg-query", "-W", "-f=${db:Status-Abbrev}", p)
		if err != nil {
			s = "un"
		}
		out = append(out, p+"="+strings.TrimSpace(s))
	}
	return strings.Join(out, " ")
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	// An empty apt cache: installing must refresh it (and only then).
	l.Run(t, "host1", "rm -f /var/lib/apt/lists/*Packages* && apt-get clean")
	first := []wire.Item{
		item(spec.KindPackage, "hello", spec.Package{}),
		item(spec.KindPackage, "jq", spec.Package{State: "latest"}),
	}
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: first})
	if r.Err != nil || len(r.Events) != 2 || r.Events[0].Change == nil {
		t.Fatalf("plan: %v, events %+v", r.Err, r.Events)
	}
	if got, want := r.Events[0].Change.Summary(), "version (none) -> (not in the apt cache yet: refreshed on apply)"; got != want {
		t.Errorf("plan: %q, want %q", got, want)
	}
	if got := l.Run(t, "host1", "ls /var/lib/apt/lists | grep -c Packages || true"); got != "0\n" {
		t.Errorf("a plan refreshed the apt cache: %s", got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "install into an empty cache",
			Resources: first,
			Check: func(t *testing.T) {
				if got := status(t, l, "hello", "jq"); got != "hello=ii jq=ii" {
					t.Errorf("dpkg: %s", got)
				}
				if got, _ := l.Enter(t, "host1", "hello"); got != "Hello, world!\n" {
					t.Errorf("hello says %q", got)
				}
				if got, _ := l.Enter(t, "host1", "sh", "-c", "echo '{\"a\":1}' | jq .a"); got != "1\n" {
					t.Errorf("jq says %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "remove one, keep the other",
			Resources: []wire.Item{
				item(spec.KindPackage, "hello", spec.Package{State: "absent"}),
				item(spec.KindPackage, "jq", spec.Package{State: "present"}),
			},
			Check: func(t *testing.T) {
				if got := status(t, l, "hello", "jq"); got != "hello=un jq=ii" {
					t.Errorf("dpkg: %s", got)
				}
			},
		},
		resourcetest.State{
			Name: "remove a package, then what it needed",
			Resources: []wire.Item{
				item(spec.KindPackage, "jq", spec.Package{State: "absent"}),
				item(spec.KindPackage, "libjq1", spec.Package{State: "absent"}),
				item(spec.KindPackage, "libonig5", spec.Package{State: "absent"}),
				item(spec.KindPackage, "hello", spec.Package{State: "absent"}),
			},
			Check: func(t *testing.T) {
				if got := status(t, l, "jq", "libjq1", "libonig5"); got != "jq=un libjq1=un libonig5=un" {
					t.Errorf("dpkg: %s", got)
				}
				if got := status(t, l, "nginx"); got != "nginx=ii" {
					t.Errorf("removing packages took another one: %s", got)
				}
			},
		},
	)
}

// TestRemovalTakesOthers: absent refuses to remove a package others need,
// naming them, and removes nothing. The plan shows the removal: it cannot
// know whether earlier resources remove those others first.
func TestRemovalTakesOthers(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", "apt-get install -y -q jq >/dev/null")
	d := &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindPackage, "libonig5", spec.Package{State: "absent"})}}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, d); r.Err != nil || r.Changed != 1 {
		t.Errorf("plan: %v, %d changes", r.Err, r.Changed)
	}
	r := resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err == nil || len(r.Events) != 1 {
		t.Fatalf("apply: no error, events %+v", r.Events)
	}
	e := r.Events[0].Failure()
	if !strings.Contains(e, "package libonig5: removing it would also remove ") || !strings.Contains(e, "jq") || !strings.Contains(e, "declare them absent before it") {
		t.Errorf("apply: error %q", e)
	}
	if got := status(t, l, "jq", "libonig5"); got != "jq=ii libonig5=ii" {
		t.Errorf("dpkg: %s", got)
	}
}

// TestUnknownPackage: a package no source has fails in a plan when the
// apt lists are under a day old, naming the nearest package the cache
// knows; with older lists the plan cannot tell a typo from a new package,
// and apply fails after one refresh.
func TestUnknownPackage(t *testing.T) {
	l := labtest.New(t, 1)
	pkg := func(name string) *wire.Desired {
		return &wire.Desired{Resources: []wire.Item{resourcetest.Item(spec.KindPackage, name, spec.Package{})}}
	}
	l.Run(t, "host1", "apt-get update -q >/dev/null")
	for _, tc := range []struct{ name, want string }{
		{"ngnix", "package ngnix is in none of this host's apt sources: did you mean nginx?"},
		{"jqq", "package jqq is in none of this host's apt sources: did you mean jq?"},
		{"no-such-package", "package no-such-package is in none of this host's apt sources"},
	} {
		r := resourcetest.Run(t, l, "host1", wire.Plan, pkg(tc.name))
		if r.Err == nil || len(r.Events) != 1 || r.Events[0].Diag == nil {
			t.Errorf("plan of %s: %v, events %+v", tc.name, r.Err, r.Events)
			continue
		}
		if got := r.Events[0].Failure(); !strings.HasSuffix(got, tc.want) {
			t.Errorf("plan of %s: %q, want it to end with %q", tc.name, got, tc.want)
		}
		if got := r.Events[0].Diag.Hint; !strings.Contains(got, "apt-cache search "+tc.name+" on the host lists similar ones") {
			t.Errorf("plan of %s: hint %q", tc.name, got)
		}
	}

	// A source written since the lists were refreshed (by an earlier
	// resource of the run), or lists two days old: the plan cannot tell,
	// and says apply refreshes them.
	stale := func(t *testing.T) {
		t.Helper()
		r := resourcetest.Run(t, l, "host1", wire.Plan, pkg("hellp"))
		if r.Err != nil || r.Changed != 1 || !strings.Contains(r.Events[0].Change.Summary(), "not in the apt cache yet: refreshed on apply") {
			t.Fatalf("plan: %v:\n%s", r.Err, resourcetest.Describe(r))
		}
	}
	l.Run(t, "host1", "sleep 0.1; : > /etc/apt/sources.list.d/new.list")
	stale(t)
	l.Run(t, "host1", "rm /etc/apt/sources.list.d/new.list && touch -h -d '2 days ago' /var/lib/apt/lists/*_Packages*")
	stale(t)
	r := resourcetest.Run(t, l, "host1", wire.Apply, pkg("hellp"))
	if want := "package hellp is in none of this host's apt sources, even after apt-get update: did you mean hello?"; r.Err == nil || len(r.Events) != 1 || !strings.Contains(r.Events[0].Failure(), want) {
		t.Errorf("apply: %v, events %+v; want %q", r.Err, r.Events, want)
	}
}
