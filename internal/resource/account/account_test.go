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
			Name: "users left out stay, supplementary groups cleared",
			Resources: []wire.Item{
				item(spec.KindUser, "alice", spec.User{UID: ptr(2110), Home: "/home/alice2", Shell: "/bin/sh"}),
			},
			Check: func(t *testing.T) {
				expect(t, "alice", "id", "-nG", "alice")
				expect(t, "svc", "id", "-un", "svc")
				expect(t, "carol", "id", "-un", "carol")
				expect(t, "deploy:x:2002:svc", "getent", "group", "deploy") // svc left alone
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
