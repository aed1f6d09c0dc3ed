// Package apt implements the package resource: a Debian package present,
// absent or at the newest version the apt cache knows. Check asks dpkg and
// the apt cache and changes nothing (never apt-get update); a package the
// cache does not know, when its lists are under a day old, is an error
// naming the nearest package it knows (a typo). Apply runs
// apt-get non-interactively, keeps existing configuration files, and
// refreshes the cache only when it must: when the package is not in it, or
// for latest when it is older than an hour. Removal says what happens to
// a package that leaves the spec.
package apt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tend/internal/resource"
	"tend/internal/spec"
)

// The states of a package.
const (
	Present = "present"
	Absent  = "absent"
	Latest  = "latest"
)

// MaxListsAge is how old the apt lists may be before Apply of a latest
// package refreshes them.
const MaxListsAge = time.Hour

// TrustedListsAge is how old the apt lists may be for Check to take a
// package they do not name as one that does not exist (a typo): a plan
// fails then. With older lists (or none) the package may be new, and
// Apply refreshes them before it decides.
const TrustedListsAge = 24 * time.Hour

// Package is a Debian package in a desired state.
type Package struct {
	Name       string
	State      string // Present, Absent or Latest
	ListsDir   string // default /var/lib/apt/lists
	SourcesDir string // default /etc/apt: sources.list and sources.list.d
}

// New makes a package resource from its spec.
func New(name string, s *spec.Package) (*Package, error) {
	st := s.State
	if st == "" {
		st = Present
	}
	if st != Present && st != Absent && st != Latest {
		return nil, fmt.Errorf("package %s: state %q is not present, absent or latest", name, st)
	}
	return &Package{Name: name, State: st, ListsDir: "/var/lib/apt/lists", SourcesDir: "/etc/apt"}, nil
}

// Installed is what dpkg knows of a package.
type Installed struct {
	Status  string // dpkg's abbreviated status, e.g. "ii ", "" when unknown
	Version string
}

// Has reports whether the package's files are on the host (installed, or
// half-way: unpacked, half-configured...). "rc" (removed, configuration
// files left) does not count.
func (i Installed) Has() bool { return len(i.Status) >= 2 && i.Status[1] != 'n' && i.Status[1] != 'c' }

// OK reports whether the package is fully installed.
func (i Installed) OK() bool { return len(i.Status) >= 2 && i.Status[1] == 'i' }

// statusName names dpkg's status letter for a plan.
func (i Installed) statusName() string {
	if len(i.Status) < 2 {
		return "not installed"
	}
	switch i.Status[1] {
	case 'i':
		return "installed"
	case 'n', 'c':
		return "not installed"
	case 'H':
		return "half-installed"
	case 'U':
		return "unpacked"
	case 'F':
		return "half-configured"
	case 'W', 't':
		return "awaiting triggers"
	}
	return "status " + strings.TrimSpace(i.Status)
}

// ParseDpkgQuery parses the output of
// dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' for one package
// (several lines for several architectures). It prefers an installed line.
func ParseDpkgQuery(out string) Installed {
	var best Installed
	for _, line := range strings.Split(out, "\n") {
		st, ver, ok := strings.Cut(line, "|")
		if !ok {
			continue
		}
		in := Installed{Status: st, Version: strings.TrimSpace(ver)}
		if !in.Has() {
			in.Version = ""
		}
		if best.Status == "" || in.OK() && !best.OK() || in.Has() && !best.Has() {
			best = in
		}
	}
	return best
}

// ParseCandidate returns the candidate version in the output of
// apt-cache policy NAME, or "" when the cache has none.
func ParseCandidate(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			v = strings.TrimSpace(v)
			if v == "(none)" {
				return ""
			}
			return v
		}
	}
	return ""
}

// ParseRemovals returns the packages an apt-get -s remove (or purge) would
// remove ("Remv NAME [VERSION]" or "Purg NAME [VERSION]" lines), without
// architecture suffixes.
func ParseRemovals(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Remv" || f[0] == "Purg") {
			n, _, _ := strings.Cut(f[1], ":")
			names = append(names, n)
		}
	}
	return names
}

// Decide returns the change that brings a package from have (and the
// cache's candidate version, "" when the cache does not know it) to state,
// or nil when there is none.
func Decide(state string, have Installed, candidate string) *resource.Change {
	switch state {
	case Absent:
		if !have.Has() {
			return nil
		}
		c := &resource.Change{Action: resource.Delete}
		c.Add("version", have.Version, "")
		return c
	case Present, Latest:
		want := candidate
		if want == "" {
			want = "(not in the apt cache yet: refreshed on apply)"
		}
		if !have.Has() {
			c := &resource.Change{Action: resource.Create}
			c.Add("version", "", want)
			return c
		}
		c := &resource.Change{Action: resource.Update}
		if !have.OK() {
			c.Add("status", have.statusName(), "installed")
		}
		if state == Latest && candidate != "" && candidate != have.Version {
			c.Add("version", have.Version, candidate)
		}
		if len(c.Fields) == 0 {
			return nil
		}
		return c
	}
	return nil
}

func (p *Package) installed(ctx context.Context) (Installed, error) {
	out, err := resource.Command(ctx, "dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}\n", p.Name)
	if err != nil {
		if strings.Contains(err.Error(), "no packages found") {
			return Installed{}, nil
		}
		return Installed{}, fmt.Errorf("package %s: ask dpkg: %w", p.Name, err)
	}
	return ParseDpkgQuery(out), nil
}

func (p *Package) candidate(ctx context.Context) (string, error) {
	out, err := resource.Command(ctx, "apt-cache", "policy", p.Name)
	if err != nil {
		return "", fmt.Errorf("package %s: ask the apt cache: %w", p.Name, err)
	}
	return ParseCandidate(out), nil
}

// Check implements resource.Resource.
func (p *Package) Check(ctx context.Context) (*resource.Change, error) {
	have, err := p.installed(ctx)
	if err != nil {
		return nil, err
	}
	var cand string
	if p.State != Absent {
		if cand, err = p.candidate(ctx); err != nil {
			return nil, err
		}
		if cand == "" && !have.Has() && p.trustLists(time.Now()) {
			return nil, p.unknown(ctx, "")
		}
	}
	return Decide(p.State, have, cand), nil
}

// aptGet runs apt-get non-interactively: no prompts, no recommends,
// existing configuration files kept, waiting for another apt to finish
// (apt-daily) instead of failing on its lock.
func aptGet(ctx context.Context, args ...string) (string, error) {
	base := []string{"-y", "-q",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
		"-o", "DPkg::Lock::Timeout=300"}
	return resource.Command(ctx, "apt-get", append(base, args...)...)
}

// ListsAge returns how long ago the apt lists in dir were refreshed (the
// newest file's age); a very large age when there are none.
func ListsAge(dir string, now time.Time) time.Duration { return listsAge(dir, now, "") }

// PackagesAge returns how long ago the package lists in dir (the
// *_Packages files, which name the packages) were refreshed; a very large
// age when there are none.
func PackagesAge(dir string, now time.Time) time.Duration { return listsAge(dir, now, "_Packages") }

// trustLists reports whether the package lists can tell that a package
// does not exist: they are under TrustedListsAge old, and no source was
// added or changed since they were refreshed (an earlier resource of this
// run may have just written one).
func (p *Package) trustLists(now time.Time) bool {
	age := PackagesAge(p.ListsDir, now)
	if age >= TrustedListsAge {
		return false
	}
	refreshed := now.Add(-age)
	files := []string{filepath.Join(p.SourcesDir, "sources.list")}
	if ents, err := os.ReadDir(filepath.Join(p.SourcesDir, "sources.list.d")); err == nil {
		for _, e := range ents {
			files = append(files, filepath.Join(p.SourcesDir, "sources.list.d", e.Name()))
		}
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(refreshed) {
			return false
		}
	}
	return true
}

func listsAge(dir string, now time.Time, part string) time.Duration {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 1 << 62
	}
	var newest time.Time
	for _, e := range ents {
		if e.IsDir() || e.Name() == "lock" || !strings.Contains(e.Name(), part) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if newest.IsZero() {
		return 1 << 62
	}
	return now.Sub(newest)
}

func (p *Package) update(ctx context.Context) error {
	if _, err := aptGet(ctx, "update"); err != nil {
		return fmt.Errorf("package %s: refresh the apt cache: %w", p.Name, err)
	}
	return nil
}

// Apply implements resource.Resource.
func (p *Package) Apply(ctx context.Context, c *resource.Change) error {
	if p.State == Absent {
		return remove(ctx, p.Name, "remove", "declare them absent before it, or keep it")
	}
	cand, err := p.candidate(ctx)
	if err != nil {
		return err
	}
	refreshed := false
	if cand == "" || p.State == Latest && ListsAge(p.ListsDir, time.Now()) > MaxListsAge {
		if err := p.update(ctx); err != nil {
			return err
		}
		refreshed = true
		if cand, err = p.candidate(ctx); err != nil {
			return err
		}
		if cand == "" {
			return p.unknown(ctx, ", even after apt-get update")
		}
	}
	install := func() error {
		// --no-remove: installing must never remove another package
		// (a conflict); that is for an explicit absent to do.
		_, err := aptGet(ctx, "install", "--no-install-recommends", "--no-remove", p.Name)
		return err
	}
	err = install()
	if err != nil && !refreshed && stale(err) {
		// The cache names files the mirror no longer has: refresh, retry.
		if uerr := p.update(ctx); uerr != nil {
			return uerr
		}
		err = install()
	}
	if err != nil {
		return fmt.Errorf("package %s: install: %w", p.Name, err)
	}
	return nil
}

// remove removes package name with apt-get verb (remove or purge),
// refusing when other packages would go with it: they are named, and fix
// says what to do. Refused on apply rather than in a plan: there, an
// earlier resource may remove the packages that need this one.
func remove(ctx context.Context, name, verb, fix string) error {
	out, err := resource.Command(ctx, "apt-get", "-s", verb, name)
	if err != nil {
		return fmt.Errorf("package %s: simulate its removal: %w", name, err)
	}
	others := slices.DeleteFunc(ParseRemovals(out), func(n string) bool { return n == name })
	if len(others) > 0 {
		return fmt.Errorf("package %s: removing it would also remove %s, which need it: %s",
			name, strings.Join(others, ", "), fix)
	}
	if _, err := aptGet(ctx, verb, name); err != nil {
		return fmt.Errorf("package %s: %s: %w", name, verb, err)
	}
	return nil
}

// stale reports whether apt-get failed because its cache is out of date.
func stale(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Unable to fetch some archives") || strings.Contains(s, "404")
}
