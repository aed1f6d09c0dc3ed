// Package roleimport fetches the roles a repository imports from other
// git repositories (tend.yaml's imports): it resolves each pinned ref to a
// commit with git, copies the role's directory into the repository's
// vendor/roles/NAME, and records the commit and the hash of what it wrote
// in tend.lock, which spec.Load then checks. A ref that now resolves to
// another commit than the lock's (a tag moved, a branch advanced) is
// refused unless the caller asks to update: a role changes only when
// somebody says so.
package roleimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"tend/internal/atomicfile"
	"tend/internal/hint"
	"tend/internal/spec"
)

// Result is what Fetch did with one import.
type Result struct {
	Name    string
	Commit  string
	Changed bool // the vendored files or the lock changed
}

// Fetch vendors the imports of repo named in names (all when empty).
// update allows a ref to resolve to another commit than the lock's.
func Fetch(ctx context.Context, dir string, names []string, update bool, logf func(string, ...any)) ([]Result, error) {
	imports, err := spec.ReadImports(dir)
	if err != nil {
		return nil, err
	}
	lock, err := spec.ReadLock(dir)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Result
	for _, im := range imports {
		if len(want) > 0 && !want[im.Name] {
			continue
		}
		delete(want, im.Name)
		r, err := fetchOne(ctx, dir, im, lock, update, logf)
		if err != nil {
			return out, fmt.Errorf("role %s from %s at %s: %w", im.Name, im.Git, im.Ref, err)
		}
		out = append(out, r)
	}
	for n := range want {
		return out, fmt.Errorf("tend.yaml imports no role %s", n)
	}
	b, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		return out, err
	}
	return out, atomicfile.Write(filepath.Join(dir, spec.LockFile), append(b, '\n'), 0o644)
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func fetchOne(ctx context.Context, dir string, im *spec.Import, lock map[string]spec.Locked, update bool, logf func(string, ...any)) (Result, error) {
	tmp, err := os.MkdirTemp("", "tend-role-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	if _, err := git(ctx, tmp, "init", "-q"); err != nil {
		return Result{}, err
	}
	if _, err := git(ctx, tmp, "fetch", "-q", "--depth", "1", "--", im.Git, im.Ref); err != nil {
		// A commit by its hash may not be fetchable alone: fetch all.
		if _, err2 := git(ctx, tmp, "fetch", "-q", "--tags", "--", im.Git, "+refs/heads/*:refs/remotes/origin/*"); err2 != nil {
			return Result{}, err
		}
		if _, err2 := git(ctx, tmp, "rev-parse", "--verify", "-q", im.Ref+"^{commit}"); err2 != nil {
			return Result{}, err
		}
		if _, err := git(ctx, tmp, "update-ref", "FETCH_HEAD", im.Ref+"^{commit}"); err != nil {
			return Result{}, err
		}
	}
	commit, err := git(ctx, tmp, "rev-parse", "FETCH_HEAD^{commit}")
	if err != nil {
		return Result{}, err
	}
	if old, ok := lock[im.Name]; ok && old.Ref == im.Ref && old.Git == im.Git && old.Commit != commit && !update {
		return Result{}, hint.New(fmt.Sprintf("%s now resolves to commit %s, and %s has %s: the ref moved since the last fetch", im.Ref, commit[:12], spec.LockFile, old.Commit[:min(12, len(old.Commit))]),
			"check the change in that repository, then take it: tend role fetch --update "+im.Name)
	}
	if _, err := git(ctx, tmp, "-c", "advice.detachedHead=false", "checkout", "-q", commit); err != nil {
		return Result{}, err
	}
	src := filepath.Join(tmp, filepath.FromSlash(im.Path))
	if fi, err := os.Stat(filepath.Join(src, "role.yaml")); err != nil || !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("commit %s has no %s/role.yaml: give the role's directory as path", commit[:12], im.Path)
	}
	sum, err := spec.TreeHash(src)
	if err != nil {
		return Result{}, err
	}
	dst := filepath.Join(dir, filepath.FromSlash(spec.VendorDir), im.Name)
	r := Result{Name: im.Name, Commit: commit}
	if have, err := spec.TreeHash(dst); err != nil || have != sum {
		if err := replaceDir(src, dst); err != nil {
			return Result{}, err
		}
		r.Changed = true
	}
	l := spec.Locked{Git: im.Git, Ref: im.Ref, Path: im.Path, Commit: commit, SHA256: sum}
	if lock[im.Name] != l {
		lock[im.Name] = l
		r.Changed = true
	}
	logf("role %s: %s at %s (commit %s)", im.Name, im.Git, im.Ref, commit[:12])
	return r, nil
}

// replaceDir copies src to dst through a sibling directory, then swaps
// them, so that dst is never half-written.
func replaceDir(src, dst string) error {
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	next, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(next)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(next, rel)
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644|fi.Mode()&0o111)
	})
	if err != nil {
		return err
	}
	old := next + ".old"
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(next, dst); err != nil {
		os.Rename(old, dst)
		return err
	}
	return os.RemoveAll(old)
}
