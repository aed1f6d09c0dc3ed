package account_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func ptr(n int) *int { return &n }

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	// enter runs a command in the host without SSH and returns its
	// trimmed output.
	enter := func(t *testing.T, args ...string) string {
		t.Helper()
		return strings.TrimSpace(l.MustEnter(t, "host1", args...))
	}
	expect := func(t *testing.T, want string, args ...string) {
		t.Helper()
		if got := enter(t, args...); got != want {
			t.Errorf("%s:\n got %q\nwant %q", strings.Join(args, " "), got, want)
		}
	}
	// A group named like a user, made before the user by hand: useradd
	// must then use it rather than fail to create it.
	l.Run(t, "host1", "groupadd -g 2500 carol")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				item(spec.KindGroup, "deploy", spec.Group{GID: ptr(2001)}),
				item(spec.KindGroup, "web", spec.Group{System: true}),
				item(spec.KindUser, "alice", spec.User{UID: ptr(2100), Groups: []string{"web", "deploy"}}),
				item(spec.KindUser, "svc", spec.User{System: true, Group: "deploy", Home: "/srv/svc", Shell: "/usr/sbin/nologin"}),
				item(spec.KindUser, "carol", spec.User{}),
			},
			Check: func(t *testing.T) {
				expect(t, "deploy:x:2001:alice", "getent", "group", "deploy")
				expect(t, "alice:x:2100:2100::/home/alice:/bin/bash", "getent", "passwd", "alice")
				expect(t, "alice:x:2100:", "getent", "group", "alice")
				expect(t, "alice deploy web", "id", "-nG", "alice")
				expect(t, "directory 755 alice:alice", "stat", "-c", "%F %a %U:%G", "/home/alice") // useradd -m, Debian's login.defs
				expect(t, "deploy", "id", "-gn", "svc")
				expect(t, "/srv/svc:/usr/sbin/nologin", "sh", "-c", "getent passwd svc | cut -d: -f6,7")
				// System accounts get ids below 1000 (Debian's SYS_UID_MAX 999).
				for _, q := range []string{"id -u svc", "getent group web | cut -d: -f3"} {
					if n := enter(t, "sh", "-c", q); len(n) > 3 {
						t.Errorf("%s = %s, want a system id", q, n)
					}
				}
				expect(t, "carol:x:2500:", "getent", "group", "carol")
				expect(t, "carol", "id", "-gn", "carol")
			},
		},
		resourcetest.State{
			Name: "change ids, groups, home, shell",
			Resources: []wire.Item{
				item(spec.KindGroup, "deploy", spec.Group{GID: ptr(2002)}),
				item(spec.KindGroup, "web", spec.Group{System: true}),
				item(spec.KindUser, "alice", spec.User{UID: ptr(2110), Groups: []string{"web"}, Home: "/home/alice2", Shell: "/bin/sh"}),
				item(spec.KindUser, "svc", spec.User{System: true, Group: "web", Groups: []string{"deploy"}, Home: "/srv/svc", Shell: "/usr/sbin/nologin"}),
				item(spec.KindUser, "carol", spec.User{Group: "deploy"}),
			},
			Check: func(t *testing.T) {
				expect(t, "deploy:x:2002:svc", "getent", "group", "deploy")
				expect(t, "alice:x:2110:2100::/home/alice2:/bin/sh", "getent", "passwd", "alice")
				expect(t, "alice web", "id", "-nG", "alice")
				expect(t, "directory 755 alice:alice", "stat", "-c", "%F %a %U:%G", "/home/alice2") // made like useradd -m
				expect(t, "web deploy", "id", "-nG", "svc")
				expect(t, "deploy", "id", "-gn", "carol")
			},
		},
		resourcetest.State{
			Name: "users and groups tend created and left out are deleted, homes stay",
			Resources: []wire.Item{
				item(spec.KindUser, "alice", spec.User{UID: ptr(2110), Home: "/home/alice2", Shell: "/bin/sh"}),
			},
			Check: func(t *testing.T) {
				expect(t, "alice", "id", "-nG", "alice")
				for _, name := range []string{"svc", "carol"} {
					if out, err := l.Enter(t, "host1", "getent", "passwd", name); err == nil {
						t.Errorf("user %s still exists: %s", name, out)
					}
				}
				for _, name := range []string{"deploy", "web"} {
					if out, err := l.Enter(t, "host1", "getent", "group", name); err == nil {
						t.Errorf("group %s still exists: %s", name, out)
					}
				}
				// carol's own group was made by hand before tend: it stays.
				expect(t, "carol:x:2500:", "getent", "group", "carol")
				// Homes hold data: they stay, with their files.
				expect(t, "directory", "stat", "-c", "%F", "/srv/svc")
				expect(t, "directory", "stat", "-c", "%F", "/home/carol")
			},
		},
	)
	if t.Failed() {
		return
	}

	// alice's group, named like her, was made with her: it goes with
	// her; her home stays, and the plan says so.
	d := &wire.Desired{}
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	got := resourcetest.Describe(r)
	if r.Err != nil || r.Removed != 1 || !strings.Contains(got, "user:alice: delete uid 2110 -> (none), group alice -> (none), own group alice -> (none)") ||
		!strings.Contains(got, "its home /home/alice2 stays, with its files") {
		t.Fatalf("plan: %d removals, err %v:\n%s", r.Removed, r.Err, got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "the last user left out",
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "getent", "passwd", "alice"); err == nil {
					t.Errorf("user alice still exists: %s", out)
				}
				if out, err := l.Enter(t, "host1", "getent", "group", "alice"); err == nil {
					t.Errorf("group alice still exists: %s", out)
				}
				expect(t, "directory 2110:2100", "stat", "-c", "%F %u:%g", "/home/alice2")
			},
		},
		resourcetest.State{
			Name: "state absent deletes the group tend did not create",
			Resources: []wire.Item{
				{ID: "group:carol", Kind: string(spec.KindGroup), Name: "carol", State: wire.Absent},
			},
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "getent", "group", "carol"); err == nil {
					t.Errorf("group carol still exists: %s", out)
				}
			},
		},
	)
}

// TestExisting: accounts that existed before tend stay when they leave
// the spec, and go with state: absent; a group still some user's primary
// group is never deleted.
func TestExisting(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	exists := func(t *testing.T, db, name string) bool {
		t.Helper()
		_, err := l.Enter(t, "host1", "getent", db, name)
		return err == nil
	}
	l.Run(t, "host1", "groupadd -g 2600 staff2 && useradd -m -g staff2 erin")
	keep := &wire.Desired{Resources: []wire.Item{
		item(spec.KindGroup, "staff2", spec.Group{GID: ptr(2600)}),
		item(spec.KindUser, "erin", spec.User{Group: "staff2", Shell: "/bin/bash"}),
	}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, keep); r.Err != nil || r.Changed != 1 {
		t.Fatalf("apply: %d changes, err %v:\n%s", r.Changed, r.Err, resourcetest.Describe(r))
	}
	gone := &wire.Desired{}
	r := resourcetest.Run(t, l, "host1", wire.Plan, gone)
	got := resourcetest.Describe(r)
	if r.Err != nil || r.Removed != 2 ||
		!strings.Contains(got, "user:erin: keep user erin existed before tend managed it: it stays as it is; declare it with state: absent to delete it") ||
		!strings.Contains(got, "group:staff2: keep group staff2 existed before tend managed it") {
		t.Fatalf("plan: %d removals, err %v:\n%s", r.Removed, r.Err, got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "left out, kept",
			Check: func(t *testing.T) {
				if !exists(t, "passwd", "erin") || !exists(t, "group", "staff2") {
					t.Error("an account tend did not create was deleted")
				}
			},
		},
	)

	// A group tend created, still the primary group of a user that stays.
	mk := &wire.Desired{Resources: []wire.Item{
		item(spec.KindGroup, "ops", spec.Group{}),
		item(spec.KindUser, "gina", spec.User{Group: "ops"}),
	}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, mk); r.Err != nil || r.Changed != 2 {
		t.Fatalf("apply: %d changes, err %v", r.Changed, r.Err)
	}
	l.Run(t, "host1", "usermod -g ops erin")
	for _, mode := range []wire.Mode{wire.Plan, wire.Apply} {
		r = resourcetest.Run(t, l, "host1", mode, &wire.Desired{Resources: mk.Resources[1:]})
		if r.Err == nil || !strings.Contains(r.Err.Error(), "group ops is the primary group of erin, gina, so it cannot be deleted; nothing was changed") {
			t.Fatalf("%s without the group: err %v, want the refusal", mode, r.Err)
		}
	}
	if !exists(t, "group", "ops") {
		t.Fatal("group ops was deleted")
	}
	// gina leaves with the group: she goes first, and only erin holds it.
	r = resourcetest.Run(t, l, "host1", wire.Plan, gone)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "group ops is the primary group of erin, so") {
		t.Fatalf("plan without both: err %v, want the refusal naming erin only", r.Err)
	}
	l.Run(t, "host1", "usermod -g staff2 erin")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "user and its group left out together",
			Check: func(t *testing.T) {
				if exists(t, "passwd", "gina") || exists(t, "group", "ops") {
					t.Error("gina or ops still exists")
				}
				if !exists(t, "passwd", "erin") {
					t.Error("erin was deleted")
				}
			},
		},
		resourcetest.State{
			Name: "state absent deletes what tend did not create",
			Resources: []wire.Item{
				{ID: "user:erin", Kind: string(spec.KindUser), Name: "erin", State: wire.Absent},
				{ID: "group:staff2", Kind: string(spec.KindGroup), Name: "staff2", State: wire.Absent},
			},
			Check: func(t *testing.T) {
				if exists(t, "passwd", "erin") || exists(t, "group", "staff2") {
					t.Error("erin or staff2 still exists")
				}
				if _, err := l.Enter(t, "host1", "test", "-d", "/home/erin"); err != nil {
					t.Error("erin's home was deleted")
				}
			},
		},
	)
}

// TestPlanOnFreshHost: a plan of a user whose groups an earlier resource
// creates does not fail (nothing exists yet), and shows what will be made.
func TestPlanOnFreshHost(t *testing.T) {
	l := labtest.New(t, 1)
	d := &wire.Desired{Resources: []wire.Item{
		resourcetest.Item(spec.KindGroup, "ops", spec.Group{GID: ptr(3000)}),
		resourcetest.Item(spec.KindUser, "dan", spec.User{Group: "ops", Groups: []string{"ops2"}}),
	}}
	r := resourcetest.Run(t, l, "host1", wire.Plan, d)
	if r.Err != nil || r.Changed != 2 {
		t.Fatalf("plan: %d changes, err %v:\n%s", r.Changed, r.Err, resourcetest.Describe(r))
	}
	got := resourcetest.Describe(r)
	want := "group:ops: create gid (none) -> 3000\n" +
		"user:dan: create uid (none) -> (chosen by the system), group (none) -> ops, groups (none) -> ops2, home (none) -> /home/dan, shell (none) -> /bin/bash\n"
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// Apply fails on the missing group, saying what to do, and creates no user.
	r = resourcetest.Run(t, l, "host1", wire.Apply, d)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "groups ops2 do not exist: declare them") {
		t.Errorf("apply: err %v, want the missing group named", r.Err)
	}
	if out, err := l.Enter(t, "host1", "id", "dan"); err == nil {
		t.Errorf("user dan was created: %s", out)
	}
}

// TestOwnGroup: a group named like a user goes with it only when tend made
// it with the user and nothing else uses it; userdel, which would delete
// it whoever made it, is kept from doing so.
func TestOwnGroup(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	exists := func(t *testing.T, db, name string) bool {
		t.Helper()
		_, err := l.Enter(t, "host1", "getent", db, name)
		return err == nil
	}
	// hank's group was there before tend; ivy's is made with her, then
	// someone else joins it.
	l.Run(t, "host1", "groupadd hank && useradd -m other")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				item(spec.KindUser, "hank", spec.User{}),
				item(spec.KindUser, "ivy", spec.User{}),
			},
			Check: func(t *testing.T) {
				if got := strings.TrimSpace(l.MustEnter(t, "host1", "id", "-gn", "hank")); got != "hank" {
					t.Errorf("hank's primary group: %s", got)
				}
			},
		},
	)
	if t.Failed() {
		return
	}
	l.Run(t, "host1", "gpasswd -a other ivy")
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{})
	got := resourcetest.Describe(r)
	for _, want := range []string{
		"user:ivy: delete uid", "its group ivy stays, as it has members (other)",
		"user:hank: delete uid", "its group hank stays: declare `group: hank` with state: absent to delete it",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "own group") {
		t.Errorf("plan deletes a group:\n%s", got)
	}
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "left out",
			Check: func(t *testing.T) {
				if exists(t, "passwd", "hank") || exists(t, "passwd", "ivy") {
					t.Error("a user still exists")
				}
				if !exists(t, "group", "hank") || !exists(t, "group", "ivy") {
					t.Error("a group named like its user was deleted: hank's was not made by tend, ivy's has a member")
				}
			},
		},
	)
}
