package apt_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// aptDid returns what apt did to pkg, from its history log: "Install
// Purge ..." (each of Install, Remove, Purge, in order).
func aptDid(t *testing.T, l *labtest.Lab, pkg string) string {
	t.Helper()
	out := l.Run(t, "host1", "grep -E '^(Install|Remove|Purge): .*\\b"+pkg+":' /var/log/apt/history.log | cut -d: -f1 || true")
	return strings.Join(strings.Fields(out), " ")
}

// TestRemoval: a package that leaves the spec stays installed unless its
// spec says purge_on_removal (purged) or tend.yaml says
// remove_unmanaged_packages (removed), and only if tend installed it.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	l.Run(t, "host1", ": > /var/log/apt/history.log")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "install",
			Resources: []wire.Item{
				item(spec.KindPackage, "jq", spec.Package{PurgeOnRemoval: true}),
				item(spec.KindPackage, "hello", spec.Package{State: "latest"}),
			},
			Check: func(t *testing.T) {
				if got := status(t, l, "jq", "hello"); got != "jq=ii hello=ii" {
					t.Errorf("dpkg: %s", got)
				}
			},
		},
	)
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{})
	if r.Err != nil || r.Removed != 2 {
		t.Fatalf("plan: %v:\n%s", r.Err, resourcetest.Describe(r))
	}
	for _, e := range r.Events {
		if e.Change == nil {
			continue
		}
		got := string(e.Change.Action) + " " + e.Change.Summary()
		want := map[string]string{
			"package:jq":    "delete version 1.6-2.1+deb12u3 -> (none), purged: its configuration files go too",
			"package:hello": "keep package hello stays installed; say purge_on_removal: true on it to purge it when it leaves the spec, or remove_unmanaged_packages: true in tend.yaml to remove every package that leaves it",
		}[e.ID]
		if got != want {
			t.Errorf("plan of %s: %q, want %q", e.ID, got, want)
		}
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "they leave the spec",
			Check: func(t *testing.T) {
				if got := status(t, l, "jq", "hello"); got != "jq=un hello=ii" {
					t.Errorf("dpkg: %s", got)
				}
				if got := aptDid(t, l, "jq"); got != "Install Purge" {
					t.Errorf("apt did to jq: %s", got)
				}
			},
		},
	)

	// remove_unmanaged_packages: a package tend installed is removed (not
	// purged); one installed before tend stays.
	l.Run(t, "host1", "apt-get remove -y -q hello >/dev/null && : > /var/log/apt/history.log")
	both := &wire.Desired{RemovePackages: true, Resources: []wire.Item{
		item(spec.KindPackage, "hello", spec.Package{}),
		item(spec.KindPackage, "libonig5", spec.Package{PurgeOnRemoval: true}), // installed with jq, before tend
	}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, both); r.Err != nil || r.Changed != 1 {
		t.Fatalf("apply: %v, %d changes:\n%s", r.Err, r.Changed, resourcetest.Describe(r))
	}
	none := &wire.Desired{RemovePackages: true}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, none); r.Err != nil || r.Removed != 2 {
		t.Fatalf("apply of the removal: %v, %d removals:\n%s", r.Err, r.Removed, resourcetest.Describe(r))
	}
	if got := status(t, l, "hello", "libonig5"); got != "hello=un libonig5=ii" {
		t.Errorf("dpkg: %s", got)
	}
	if got := aptDid(t, l, "hello"); got != "Install Remove" {
		t.Errorf("apt did to hello: %s", got)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, none); r.Err != nil || r.Changed+r.Removed != 0 {
		t.Errorf("plan after the removal: %v:\n%s", r.Err, resourcetest.Describe(r))
	}

	// state: absent removes a package installed before tend.
	l.Run(t, "host1", "apt-get install -y -q hello >/dev/null")
	resourcetest.Converge(t, l, "host1", resourcetest.State{
		Name:      "state absent",
		Resources: []wire.Item{item(spec.KindPackage, "hello", spec.Package{State: "absent"})},
		Check: func(t *testing.T) {
			if got := status(t, l, "hello"); got != "hello=un" {
				t.Errorf("dpkg: %s", got)
			}
		},
	})
}

// TestRemovalTakesOthersRefused: a package that leaves the spec is not
// removed when others need it: apply fails naming them, and removes
// nothing.
func TestRemovalTakesOthersRefused(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	l.Run(t, "host1", "apt-get purge -y -q jq libjq1 libonig5 >/dev/null")
	first := &wire.Desired{Resources: []wire.Item{
		item(spec.KindPackage, "libonig5", spec.Package{PurgeOnRemoval: true}),
		item(spec.KindPackage, "jq", spec.Package{}),
	}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, first); r.Err != nil || r.Changed != 2 {
		t.Fatalf("apply: %v:\n%s", r.Err, resourcetest.Describe(r))
	}
	d := &wire.Desired{Resources: first.Resources[1:]}
	r := resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err == nil {
		t.Fatalf("apply: no error:\n%s", resourcetest.Describe(r))
	}
	for _, want := range []string{"package libonig5: removing it would also remove ", "jq", "libjq1", "let them leave the spec too"} {
		if !strings.Contains(r.Err.Error(), want) {
			t.Errorf("apply: error %q does not say %q", r.Err, want)
		}
	}
	if got := status(t, l, "jq", "libjq1", "libonig5"); got != "jq=ii libjq1=ii libonig5=ii" {
		t.Errorf("dpkg: %s", got)
	}
}
