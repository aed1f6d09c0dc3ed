package file_test

import (
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	stat := func(t *testing.T, path string) string {
		return strings.TrimSpace(l.MustEnter(t, "host1", "stat", "-c", "%F %a %U:%G", path))
	}
	cat := func(t *testing.T, path string) string { return l.MustEnter(t, "host1", "cat", path) }
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "create",
			Resources: []wire.Item{
				item(spec.KindDirectory, "/srv/app", spec.Directory{Mode: "0750", Owner: "root", Group: "www-data"}),
				item(spec.KindFile, "/srv/app/app.conf", spec.File{Content: "port = 8080\n", Mode: "0640", Owner: "root", Group: "www-data"}),
				item(spec.KindSymlink, "/srv/app/current", spec.Symlink{Target: "/srv/app/releases/1"}),
				item(spec.KindFile, "/etc/motd", spec.File{Content: "managed by tend\n"}),
			},
			Check: func(t *testing.T) {
				if got := stat(t, "/srv/app"); got != "directory 750 root:www-data" {
					t.Errorf("/srv/app: %s", got)
				}
				if got := stat(t, "/srv/app/app.conf"); got != "regular file 640 root:www-data" {
					t.Errorf("app.conf: %s", got)
				}
				if got := cat(t, "/srv/app/app.conf"); got != "port = 8080\n" {
					t.Errorf("app.conf content %q", got)
				}
				if got, _ := l.Enter(t, "host1", "readlink", "/srv/app/current"); got != "/srv/app/releases/1\n" {
					t.Errorf("current -> %q", got)
				}
			},
		},
		resourcetest.State{
			Name: "change content, mode, owner, target",
			Resources: []wire.Item{
				item(spec.KindDirectory, "/srv/app", spec.Directory{Mode: "0755", Owner: "www-data", Group: "www-data"}),
				item(spec.KindFile, "/srv/app/app.conf", spec.File{Content: "port = 9090\nworkers = 4\n", Mode: "0600", Owner: "www-data", Group: "root"}),
				item(spec.KindSymlink, "/srv/app/current", spec.Symlink{Target: "/srv/app/releases/2"}),
				item(spec.KindFile, "/etc/motd", spec.File{Content: "managed by tend\n", Mode: "0444"}),
			},
			Check: func(t *testing.T) {
				if got := stat(t, "/srv/app/app.conf"); got != "regular file 600 www-data:root" {
					t.Errorf("app.conf: %s", got)
				}
				if got := cat(t, "/srv/app/app.conf"); got != "port = 9090\nworkers = 4\n" {
					t.Errorf("app.conf content %q", got)
				}
				if got := stat(t, "/etc/motd"); got != "regular file 444 root:root" {
					t.Errorf("motd: %s", got)
				}
			},
		},
		resourcetest.State{
			Name: "absent",
			Resources: []wire.Item{
				item(spec.KindAbsent, "/srv/app", spec.Absent{}),
				item(spec.KindAbsent, "/etc/motd", spec.Absent{}),
			},
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "ls", "/srv/app", "/etc/motd"); err == nil {
					t.Errorf("still there: %s", out)
				}
			},
		},
	)
}

// TestPlanShowsDiff: a plan of a changed file shows a unified diff and
// changes nothing; a sensitive file shows no content at all.
func TestPlanShowsDiff(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", "printf 'a\\nb\\nc\\n' > /etc/plain; printf 'old-secret-canary\\n' > /etc/secret")
	plain := resourcetest.Item(spec.KindFile, "/etc/plain", spec.File{Content: "a\nB\nc\n"})
	secret := resourcetest.Item(spec.KindFile, "/etc/secret", spec.File{Content: "new-secret-canary\n", Mode: "0600"})
	secret.Sensitive = true
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{plain, secret}})
	if r.Err != nil || len(r.Events) != 2 {
		t.Fatalf("plan: %v, events %+v", r.Err, r.Events)
	}
	want := "--- /etc/plain\n+++ /etc/plain\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
	if got := r.Events[0].Change.Diff; got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	s := r.Events[1].Change
	if !s.Sensitive || s.Diff != "" || !strings.Contains(s.Summary(), "(sensitive value changed)") {
		t.Errorf("sensitive change: %+v", s)
	}
	if b, _ := jsonString(r); strings.Contains(b, "secret-canary") {
		t.Errorf("a secret reached the control machine: %s", b)
	}
	if got := l.Run(t, "host1", "cat /etc/plain /etc/secret"); got != "a\nb\nc\nold-secret-canary\n" {
		t.Errorf("a plan changed the host: %q", got)
	}
}
