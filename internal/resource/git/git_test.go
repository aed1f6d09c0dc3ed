package git

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/spec"
)

func TestPickRef(t *testing.T) {
	const (
		a = "1111111111111111111111111111111111111111"
		b = "2222222222222222222222222222222222222222"
		c = "3333333333333333333333333333333333333333"
		d = "4444444444444444444444444444444444444444"
	)
	out := a + "\tHEAD\n" +
		a + "\trefs/heads/main\n" +
		b + "\trefs/remotes/origin/v1\n" +
		c + "\trefs/tags/v1\n" +
		d + "\trefs/tags/v1^{}\n" +
		b + "\trefs/tags/light\n"
	for _, tc := range []struct {
		rev  string
		want string
		ok   bool
	}{
		{"main", a, true},
		{"HEAD", a, true},
		{"refs/heads/main", a, true},
		{"v1", d, true}, // an annotated tag: the commit it points to
		{"light", b, true},
		{"origin/v1", "", false}, // a tail match of ls-remote, not a branch or tag
		{"nope", "", false},
	} {
		t.Run(tc.rev, func(t *testing.T) {
			got, ok := pickRef(out, tc.rev)
			if got != tc.want || ok != tc.ok {
				t.Errorf("pickRef(%q) = %q, %v; want %q, %v", tc.rev, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	day := func(n int) time.Time { return time.Date(2025, 1, n, 0, 0, 0, 0, time.UTC) }
	rels := []release{{Name: "a", Deployed: day(1)}, {Name: "b", Deployed: day(2)}, {Name: "c", Deployed: day(3)}, {Name: "d", Deployed: day(4)}}
	for _, tc := range []struct {
		name    string
		current string
		keep    int
		want    []string
	}{
		{"under the limit", "d", 5, nil},
		{"at the limit", "d", 4, nil},
		{"oldest go first", "d", 2, []string{"a", "b"}},
		{"keep 1 keeps only the current", "d", 1, []string{"a", "b", "c"}},
		{"a rolled back current is never removed", "a", 2, []string{"b", "c"}},
		{"a rolled back current with keep 1", "b", 1, []string{"a", "c", "d"}},
		{"no current release", "", 2, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, prune(rels, tc.current, tc.keep)); diff != "" {
				t.Errorf("prune (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCurrentName(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"releases/abc", "abc"},
		{"/srv/app/releases/abc", "abc"},
		{"/srv/app/releases/abc/", "abc"},
		{"/srv/other/releases/abc", "/srv/other/releases/abc"},
		{"elsewhere", "elsewhere"},
	} {
		if got := currentName("/srv/app", tc.target); got != tc.want {
			t.Errorf("currentName(%q) = %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	repo := "https://deploy:s3cret@git.example.com/app.git"
	got := redact("git ls-remote "+repo+" main: failed", repo)
	if want := "git ls-remote https://deploy:xxxxx@git.example.com/app.git main: failed"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
	if got := redact("x /srv/app.git", "/srv/app.git"); got != "x /srv/app.git" {
		t.Errorf("redact of a path = %q", got)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		s    spec.Git
	}{
		{"relative dir", "srv/app", spec.Git{Repo: "r", Revision: "main"}},
		{"option as repo", "/srv/app", spec.Git{Repo: "--upload-pack=touch /tmp/x", Revision: "main"}},
		{"option as revision", "/srv/app", spec.Git{Repo: "r", Revision: "--all"}},
		{"current with a slash", "/srv/app", spec.Git{Repo: "r", Revision: "main", Current: "a/b"}},
		{"current named releases", "/srv/app", spec.Git{Repo: "r", Revision: "main", Current: "releases"}},
		{"negative keep", "/srv/app", spec.Git{Repo: "r", Revision: "main", Keep: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.dir, &tc.s); err == nil {
				t.Errorf("New accepted %s %+v", tc.dir, tc.s)
			}
		})
	}
	g, err := New("/srv/app", &spec.Git{Repo: "/srv/app.git", Revision: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Keep != 5 || g.Current != "current" || g.User != "root" {
		t.Errorf("defaults: %+v", g)
	}
}
