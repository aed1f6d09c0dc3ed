package git_test

import (
	"slices"
	"strings"
	"testing"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// setup makes, on the lab host, a deploy user and a bare repository with an
// annotated tag v1 ("one") and a branch main one commit further ("two").
const setup = `set -e
useradd -m deploy
git init -q --bare /srv/src/app.git
git init -q /tmp/work && cd /tmp/work
git config user.email t@example.com && git config user.name t
echo one > VERSION && git add VERSION && git commit -qm one && git tag -a v1 -m v1
echo two > VERSION && git commit -qam two
git push -q /srv/src/app.git HEAD:refs/heads/main refs/tags/v1
chown -R deploy: /srv/src/app.git
git rev-parse HEAD~1 HEAD
`

const push = `set -e
cd /tmp/work && git config --global --add safe.directory /srv/src/app.git && echo three > VERSION && git commit -qam three && git push -q /srv/src/app.git HEAD:refs/heads/main
git rev-parse HEAD
`

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	commits := strings.Fields(l.Run(t, "host1", setup))
	c1, c2 := commits[0], commits[1]
	const dir = "/srv/app"
	deploy := func(rev string, keep int) []wire.Item {
		return []wire.Item{resourcetest.Item(spec.KindGit, dir, spec.Git{
			Repo: "/srv/src/app.git", Revision: rev, Keep: keep, Current: "current", User: "deploy"})}
	}
	enter := func(t *testing.T, args ...string) string {
		t.Helper()
		return strings.TrimSpace(l.MustEnter(t, "host1", args...))
	}
	// deployed asserts what current points to, what it serves, and which
	// releases are kept.
	deployed := func(commit, version string, kept ...string) func(t *testing.T) {
		return func(t *testing.T) {
			if got, want := enter(t, "readlink", dir+"/current"), "releases/"+commit[:12]; got != want {
				t.Errorf("current -> %s, want %s", got, want)
			}
			if got := enter(t, "cat", dir+"/current/VERSION"); got != version {
				t.Errorf("current/VERSION = %q, want %q", got, version)
			}
			if got := enter(t, "runuser", "-u", "deploy", "--", "git", "-C", dir+"/current", "rev-parse", "HEAD"); got != commit {
				t.Errorf("HEAD of current = %s, want %s", got, commit)
			}
			if got := enter(t, "stat", "-c", "%U", dir+"/current/VERSION"); got != "deploy" {
				t.Errorf("checkout owned by %s, want deploy", got)
			}
			var want []string
			for _, c := range kept {
				want = append(want, c[:12])
			}
			slices.Sort(want)
			got := strings.Fields(enter(t, "ls", dir+"/releases"))
			if !slices.Equal(got, want) {
				t.Errorf("releases %v, want %v", got, want)
			}
		}
	}

	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "deploy an annotated tag", Resources: deploy("v1", 2), Check: deployed(c1, "one", c1)},
		resourcetest.State{Name: "deploy a branch", Resources: deploy("main", 2), Check: deployed(c2, "two", c1, c2)},
	)
	if t.Failed() {
		return
	}
	c3 := strings.TrimSpace(l.Run(t, "host1", push))
	// Mark the release of c2, to see that a rollback reuses it.
	l.Run(t, "host1", "touch "+dir+"/releases/"+c2[:12]+"/.marker")
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "the branch moved: deploy it, remove the oldest", Resources: deploy("main", 2), Check: deployed(c3, "three", c2, c3)},
		resourcetest.State{Name: "roll back to a kept release", Resources: deploy(c2, 2), Check: func(t *testing.T) {
			deployed(c2, "two", c2, c3)(t)
			enter(t, "test", "-e", dir+"/current/.marker") // the same directory, not a new checkout
		}},
		resourcetest.State{Name: "keep 1", Resources: deploy(c2, 1), Check: deployed(c2, "two", c2)},
		resourcetest.State{Name: "an abbreviated commit", Resources: deploy(c1[:8], 1), Check: deployed(c1, "one", c1)},
	)
}

// TestPlanAndErrors: a plan of a moved branch names both releases and
// changes nothing; an unknown revision is an error that names it.
func TestPlanAndErrors(t *testing.T) {
	l := labtest.New(t, 1)
	commits := strings.Fields(l.Run(t, "host1", setup))
	item := func(rev string) wire.Item {
		return resourcetest.Item(spec.KindGit, "/srv/app", spec.Git{Repo: "/srv/src/app.git", Revision: rev, Keep: 5, Current: "current", User: "deploy"})
	}
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{item("v1")}})
	if r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
	}
	r = resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{item("main")}})
	if r.Err != nil || len(r.Events) == 0 || r.Events[0].Change == nil {
		t.Fatalf("plan: %v\n%+v", r.Err, r.Events)
	}
	if got, want := r.Events[0].Change.Summary(), "release "+commits[0][:12]+" -> "+commits[1][:12]; got != want {
		t.Errorf("plan: %q, want %q", got, want)
	}
	if got := l.Run(t, "host1", "readlink /srv/app/current; ls /srv/app/releases"); got != "releases/"+commits[0][:12]+"\n"+commits[0][:12]+"\n" {
		t.Errorf("a plan changed the host: %q", got)
	}
	r = resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Resources: []wire.Item{item("no-such-branch")}})
	if r.Err == nil || !strings.Contains(resourcetest.Describe(r), `revision "no-such-branch" is neither a branch nor a tag of /srv/src/app.git`) {
		t.Errorf("unknown revision: %v\n%s", r.Err, resourcetest.Describe(r))
	}
}

// TestRemoval: a deployment that leaves the spec stays on the host, and
// the plan says why; state: absent deletes it only with delete_data.
func TestRemoval(t *testing.T) {
	l := labtest.New(t, 1)
	l.Run(t, "host1", setup)
	const dir = "/srv/app"
	it := resourcetest.Item(spec.KindGit, dir, spec.Git{Repo: "/srv/src/app.git", Revision: "v1", Keep: 2, Current: "current", User: "deploy"})
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{Name: "deploy", Resources: []wire.Item{it}, Check: func(t *testing.T) {
			// What the application wrote in its deployment.
			l.Run(t, "host1", "mkdir "+dir+"/shared && echo upload > "+dir+"/shared/file && echo local > "+dir+"/current/LOCAL")
		}},
	)
	if t.Failed() {
		return
	}
	r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{})
	want := "git:/srv/app: keep /srv/app is left on the host: a deployment may hold files the application wrote; declare it with state: absent and delete_data: true to delete it\n"
	if got := resourcetest.Describe(r); r.Err != nil || got != want || r.Removed != 1 {
		t.Errorf("plan (%v, %d removals):\n%s\nwant:\n%s", r.Err, r.Removed, got, want)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{}); r.Err != nil || r.Removed != 1 {
		t.Fatalf("apply: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
	}
	if got := l.Run(t, "host1", "cat "+dir+"/shared/file "+dir+"/current/LOCAL "+dir+"/current/VERSION"); got != "upload\nlocal\none\n" {
		t.Errorf("the deployment changed: %q", got)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{}); r.Err != nil || r.Changed+r.Removed != 0 {
		t.Errorf("second plan: %d changes, %d removals, %v\n%s", r.Changed, r.Removed, r.Err, resourcetest.Describe(r))
	}

	gone := wire.Item{ID: it.ID, Kind: it.Kind, Name: it.Name, State: wire.Absent}
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Resources: []wire.Item{gone}})
	if got := resourcetest.Describe(r); r.Err == nil || !strings.Contains(got, "/srv/app: state: absent alone does not delete a deployment") {
		t.Errorf("state: absent without delete_data (%v):\n%s", r.Err, got)
	}
	l.Run(t, "host1", "test -f "+dir+"/shared/file")
	gone.DeleteData = true
	d := &wire.Desired{Resources: []wire.Item{gone}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, d); r.Err != nil || r.Removed != 1 {
		t.Fatalf("apply with delete_data: %d removed, %v\n%s", r.Removed, r.Err, resourcetest.Describe(r))
	}
	if got := l.Run(t, "host1", "test -e "+dir+" && echo there || echo gone"); got != "gone\n" {
		t.Errorf("%s is %s", dir, got)
	}
	if r := resourcetest.Run(t, l, "host1", wire.Plan, d); r.Err != nil || r.Changed+r.Removed != 0 {
		t.Errorf("plan after removal: %d changes, %d removals, %v\n%s", r.Changed, r.Removed, r.Err, resourcetest.Describe(r))
	}
}
