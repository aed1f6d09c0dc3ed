// Package git implements the git resource: an application deployed from a
// git repository into release directories (DIR/releases/COMMIT), with a
// symlink (DIR/current) switched atomically to the deployed one, the newest
// releases kept for rollbacks, and older ones removed.
package git

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tend/internal/resource"
	"tend/internal/spec"
)

// nameLen is how many hex digits of a commit name its release directory.
const nameLen = 12

// stateFile records, in the deployment directory, when each release was
// deployed and from which commit; it orders releases for pruning.
const stateFile = ".tend-releases.json"

// Git is a revision of a repository deployed into Dir.
type Git struct {
	Dir      string // the deployment directory
	Repo     string // repository URL or path, as git understands it
	Revision string // commit, tag or branch
	Keep     int    // releases kept, at least 1
	Current  string // name of the symlink inside Dir
	User     string // owner of the checkouts; git runs as this user
}

// New makes a git resource from its spec; dir is the resource's name.
func New(dir string, s *spec.Git) (*Git, error) {
	g := &Git{Dir: dir, Repo: s.Repo, Revision: s.Revision, Keep: s.Keep, Current: s.Current, User: s.User}
	if g.Keep == 0 {
		g.Keep = 5
	}
	if g.Current == "" {
		g.Current = "current"
	}
	if g.User == "" {
		g.User = "root"
	}
	switch {
	case !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/":
		return nil, fmt.Errorf("%q is not an absolute, clean path other than /", dir)
	case g.Repo == "" || strings.HasPrefix(g.Repo, "-"):
		return nil, fmt.Errorf("repo %q is not a repository URL or path", g.Repo)
	case g.Revision == "" || strings.HasPrefix(g.Revision, "-") || strings.ContainsAny(g.Revision, " \t\n:~^"):
		return nil, fmt.Errorf("revision %q is not a commit, tag or branch name", g.Revision)
	case g.Keep < 1:
		return nil, fmt.Errorf("keep %d: at least 1 release (the current one) is kept", g.Keep)
	case g.Current == "releases" || strings.ContainsAny(g.Current, "/") || strings.HasPrefix(g.Current, "."):
		return nil, fmt.Errorf("current %q must be a plain name inside %s, other than releases", g.Current, dir)
	}
	return g, nil
}

var (
	fullCommitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	abbrevRE     = regexp.MustCompile(`^[0-9a-f]{4,39}$`)
)

// target is the commit a revision resolves to: a full commit id, or (for an
// abbreviated commit id that no ref matches) the abbreviation.
type target struct {
	commit string
	full   bool
}

// name is the release directory name, or "" when only an abbreviation is
// known (the commit must be fetched to name it).
func (t target) name() string {
	if t.full {
		return t.commit[:nameLen]
	}
	return ""
}

// resolve finds the commit of the revision: a full commit id is taken as
// is; anything else is looked up with git ls-remote (cheap: refs only).
func (g *Git) resolve(ctx context.Context) (target, error) {
	if fullCommitRE.MatchString(g.Revision) {
		return target{commit: g.Revision, full: true}, nil
	}
	// The second pattern lists the commit an annotated tag points to.
	out, err := g.git(ctx, "/", "ls-remote", g.Repo, g.Revision, g.Revision+"^{}")
	if err != nil {
		return target{}, fmt.Errorf("resolve revision %q: %w", g.Revision, err)
	}
	if c, ok := pickRef(out, g.Revision); ok {
		return target{commit: c, full: true}, nil
	}
	if abbrevRE.MatchString(g.Revision) {
		return target{commit: g.Revision}, nil
	}
	return target{}, fmt.Errorf("revision %q is neither a branch nor a tag of %s: check its spelling, or give a commit id", g.Revision, redact(g.Repo, g.Repo))
}

// pickRef chooses the commit of rev from git ls-remote output: rev itself
// when it is a full ref name (or HEAD), then the branch rev, then the tag rev
// (the commit an annotated tag points to).
func pickRef(lsRemote, rev string) (string, bool) {
	refs := map[string]string{}
	for line := range strings.Lines(lsRemote) {
		f := strings.Fields(line)
		if len(f) == 2 && fullCommitRE.MatchString(f[0]) {
			refs[f[1]] = f[0]
		}
	}
	for _, name := range []string{rev, "refs/heads/" + rev, "refs/tags/" + rev + "^{}", "refs/tags/" + rev} {
		if name == rev && !(rev == "HEAD" || strings.HasPrefix(rev, "refs/")) {
			continue
		}
		if c, ok := refs[name]; ok {
			return c, true
		}
	}
	return "", false
}

// record is what the state file knows of a release.
type record struct {
	Commit   string    `json:"commit"`
	Deployed time.Time `json:"deployed"`
}

// release is a release directory with its deploy time.
type release struct {
	Name     string
	Commit   string // "" when unknown
	Deployed time.Time
}

// observed is the deployment directory as found.
type observed struct {
	releases []release
	current  string // release name the symlink points to; "" when absent
	link     string // the symlink's raw target; "" when absent
}

func (g *Git) releasesDir() string { return filepath.Join(g.Dir, "releases") }

// observe reads the releases, their deploy times and the current link.
func (g *Git) observe() (observed, error) {
	var o observed
	link := filepath.Join(g.Dir, g.Current)
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return o, err
	case fi.Mode()&fs.ModeSymlink == 0:
		return o, fmt.Errorf("%s is not a symlink: move it away (tend makes it a symlink to the deployed release)", link)
	default:
		if o.link, err = os.Readlink(link); err != nil {
			return o, err
		}
		o.current = currentName(g.Dir, o.link)
	}
	state, err := g.readState()
	if err != nil {
		return o, err
	}
	entries, err := os.ReadDir(g.releasesDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return o, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r := release{Name: e.Name()}
		if rec, ok := state[e.Name()]; ok {
			r.Commit, r.Deployed = rec.Commit, rec.Deployed
		} else if info, err := e.Info(); err == nil {
			r.Deployed = info.ModTime() // deployed by an interrupted run, or by hand
		}
		o.releases = append(o.releases, r)
	}
	return o, nil
}

// currentName returns the release a link target designates, or the target
// itself when it is not a release of dir.
func currentName(dir, target string) string {
	t := target
	if !filepath.IsAbs(t) {
		t = filepath.Join(dir, t)
	}
	if filepath.Dir(filepath.Clean(t)) == filepath.Join(dir, "releases") {
		return filepath.Base(t)
	}
	return target
}

func (g *Git) readState() (map[string]record, error) {
	b, err := os.ReadFile(filepath.Join(g.Dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]record{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]record{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v: remove it (deploy times are then taken from the release directories)", filepath.Join(g.Dir, stateFile), err)
	}
	return m, nil
}

// find returns the kept release of t, if any.
func find(rels []release, t target) (release, bool) {
	for _, r := range rels {
		if t.full && r.Name == t.name() {
			return r, true
		}
		if !t.full && (strings.HasPrefix(r.Name, t.commit) || strings.HasPrefix(r.Commit, t.commit)) {
			return r, true
		}
	}
	return release{}, false
}

// prune returns the releases to remove so that at most keep remain: the
// newest deploys are kept, and the current release always is.
func prune(rels []release, current string, keep int) []string {
	rels = slices.Clone(rels)
	slices.SortStableFunc(rels, func(a, b release) int {
		if c := b.Deployed.Compare(a.Deployed); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	kept := 0
	if slices.ContainsFunc(rels, func(r release) bool { return r.Name == current }) {
		kept = 1 // the current release takes one of the places, wherever it is
	}
	var out []string
	for _, r := range rels {
		if r.Name == current {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

// Check implements resource.Resource: it resolves the revision (git
// ls-remote, unless it is a full commit id) and compares it with the
// release the symlink points to, and the kept releases with Keep.
func (g *Git) Check(ctx context.Context) (*resource.Change, error) {
	if _, err := user.Lookup(g.User); err != nil {
		// A plan on a fresh host: a user resource earlier in the run
		// creates the user, whose credentials git needs.
		c := &resource.Change{Action: resource.Create}
		c.Add("release", "", g.Revision+" (user "+g.User+" does not exist yet)")
		return c, nil
	}
	t, err := g.resolve(ctx)
	if err != nil {
		return nil, err
	}
	o, err := g.observe()
	if err != nil {
		return nil, err
	}
	want, reuse := t.name(), false
	if r, ok := find(o.releases, t); ok {
		want, reuse = r.Name, true
	}
	c := &resource.Change{Action: resource.Update}
	if o.link == "" {
		c.Action = resource.Create
	}
	rels := slices.Clone(o.releases)
	if !reuse || o.current != want {
		to := want
		switch {
		case to == "":
			to = t.commit // abbreviated: named once fetched
		case reuse:
			to += " (kept release)"
		}
		from := o.current
		if from == to {
			from += " (directory missing)"
		}
		c.Add("release", from, to)
		if reuse {
			for i := range rels {
				if rels[i].Name == want {
					rels[i].Deployed = time.Now()
				}
			}
		} else {
			want = "(new)"
			rels = append(rels, release{Name: want, Deployed: time.Now()})
		}
	}
	if old := prune(rels, want, g.Keep); len(old) > 0 {
		c.Add("remove releases", strings.Join(old, " "), "")
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource: it checks the revision out into a
// temporary directory renamed into releases/ (or reuses a kept release),
// switches the symlink with a rename, records the deploy time and removes
// the releases beyond Keep.
func (g *Git) Apply(ctx context.Context, c *resource.Change) error {
	t, err := g.resolve(ctx)
	if err != nil {
		return err
	}
	if err := g.makeDirs(); err != nil {
		return err
	}
	o, err := g.observe()
	if err != nil {
		return err
	}
	name := t.name()
	r, ok := find(o.releases, t)
	if ok {
		name = r.Name
	} else if name, err = g.checkout(ctx, t, o.releases); err != nil {
		return err
	}
	commit := t.commit
	if !t.full {
		if commit, err = g.git(ctx, filepath.Join(g.releasesDir(), name), "rev-parse", "HEAD"); err != nil {
			return fmt.Errorf("release %s: %w", name, err)
		}
		commit = strings.TrimSpace(commit)
	}
	if o.current != name {
		if err := g.link(name); err != nil {
			return err
		}
	}
	state, err := g.readState()
	if err != nil {
		return err
	}
	if rec, ok := state[name]; !ok || o.current != name {
		rec.Commit, rec.Deployed = commit, time.Now().UTC()
		state[name] = rec
	}
	o, err = g.observe()
	if err != nil {
		return err
	}
	for _, old := range prune(o.releases, name, g.Keep) {
		if err := os.RemoveAll(filepath.Join(g.releasesDir(), old)); err != nil {
			return fmt.Errorf("remove old release: %w", err)
		}
		delete(state, old)
	}
	for n := range state { // releases removed by hand
		if _, err := os.Stat(filepath.Join(g.releasesDir(), n)); errors.Is(err, fs.ErrNotExist) {
			delete(state, n)
		}
	}
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	if err := resource.WriteFile(filepath.Join(g.Dir, stateFile), append(b, '\n'), resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}); err != nil {
		return err
	}
	return resource.SyncDir(g.releasesDir())
}

// makeDirs creates Dir and Dir/releases, owned by User when created, and
// removes checkouts an interrupted run left behind.
func (g *Git) makeDirs() error {
	uid, gid, err := g.ids()
	if err != nil {
		return err
	}
	for _, d := range []string{g.Dir, g.releasesDir()} {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(g.releasesDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tend-") {
			if err := os.RemoveAll(filepath.Join(g.releasesDir(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkout fetches commit t into a temporary directory and renames it into
// releases/, returning the release's name. A full commit is fetched alone
// (depth 1); an abbreviated one, or a server refusing to serve a commit by
// id, needs the branches and tags fetched.
func (g *Git) checkout(ctx context.Context, t target, kept []release) (string, error) {
	tmp := filepath.Join(g.releasesDir(), ".tend-checkout")
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("check out %s of %s: %w", t.commit, g.Repo, err)
	}
	if _, err := g.git(ctx, g.releasesDir(), "init", "-q", tmp); err != nil {
		return fail(err)
	}
	if _, err := g.git(ctx, tmp, "remote", "add", "origin", g.Repo); err != nil {
		return fail(err)
	}
	fetched := false
	if t.full {
		_, err := g.git(ctx, tmp, "fetch", "-q", "--depth", "1", "origin", t.commit)
		fetched = err == nil
	}
	if !fetched {
		if _, err := g.git(ctx, tmp, "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
			return fail(err)
		}
	}
	if _, err := g.git(ctx, tmp, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", t.commit); err != nil {
		return fail(err)
	}
	head, err := g.git(ctx, tmp, "rev-parse", "HEAD")
	if err != nil {
		return fail(err)
	}
	name := strings.TrimSpace(head)[:nameLen]
	dst := filepath.Join(g.releasesDir(), name)
	if slices.ContainsFunc(kept, func(r release) bool { return r.Name == name }) {
		os.RemoveAll(tmp)
		return name, nil
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fail(err)
	}
	return name, resource.SyncDir(g.releasesDir())
}

// link points the symlink at release name: a new link is made beside it
// and renamed over it, so that the path always exists.
func (g *Git) link(name string) error {
	tmp := filepath.Join(g.Dir, ".tend-"+g.Current+".link")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("releases", name), tmp); err != nil {
		return err
	}
	uid, gid, err := g.ids()
	if err == nil {
		err = os.Lchown(tmp, uid, gid)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(g.Dir, g.Current))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch %s: %w", filepath.Join(g.Dir, g.Current), err)
	}
	return resource.SyncDir(g.Dir)
}

func (g *Git) ids() (uid, gid int, err error) {
	u, err := user.Lookup(g.User)
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: no such user: create it first (a user resource ordered before this one)", g.User)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// git runs git in dir as User, never prompting for credentials, and returns
// its standard output.
func (g *Git) git(ctx context.Context, dir string, args ...string) (string, error) {
	u, err := user.Lookup(g.User)
	if err != nil {
		return "", fmt.Errorf("user %q: no such user: create it first (a user resource ordered before this one)", g.User)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + u.HomeDir, "USER=" + u.Username, "LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0", // fail rather than wait for a password
	}
	if s, ok := os.LookupEnv("GIT_SSH_COMMAND"); ok {
		env = append(env, "GIT_SSH_COMMAND="+s)
	} else {
		env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	cmd.Env = env
	if u.Uid != "0" {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		var groups []uint32
		if gids, err := u.GroupIds(); err == nil {
			for _, s := range gids {
				if n, err := strconv.Atoi(s); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		line := redact(strings.Join(args, " "), g.Repo)
		return out.String(), fmt.Errorf("git %s: %v: %s", line, err, redact(msg, g.Repo))
	}
	return out.String(), nil
}

// redact hides the password of a repository URL (https://user:token@host/)
// wherever it appears in s.
func redact(s, repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return strings.ReplaceAll(s, repo, u.Redacted())
}
