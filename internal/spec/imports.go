package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Roles from elsewhere: tend.yaml's imports name roles kept in other git
// repositories, at a pinned ref; tend role fetch vendors each into
// VendorDir/NAME and records in LockFile the commit it resolved and the
// hash of the files it wrote. Load reads vendored roles like the
// repository's own, and refuses one that is missing, not imported, or
// whose files differ from what was fetched (edited by hand, or a fetch
// cut short), so that what is applied is what the lock says.
const (
	VendorDir = "vendor/roles"
	LockFile  = "tend.lock"
)

// Import is one role taken from another repository.
type Import struct {
	Name string `json:"-"`
	Git  string `json:"git"`  // the repository, as git clone takes it
	Ref  string `json:"ref"`  // a tag, branch or commit
	Path string `json:"path"` // the role's directory in it; default roles/NAME
	Pos  Pos    `json:"-"`
}

// Locked is what tend role fetch recorded of one import.
type Locked struct {
	Git    string `json:"git"`
	Ref    string `json:"ref"`
	Path   string `json:"path"`
	Commit string `json:"commit"` // what Ref resolved to
	SHA256 string `json:"sha256"` // TreeHash of the vendored files
}

// ReadLock reads the lock file of the repository at dir; none is empty.
func ReadLock(dir string) (map[string]Locked, error) {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Locked{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]Locked{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", LockFile, err)
	}
	return out, nil
}

// TreeHash hashes the files under dir: their paths, modes (executable or
// not) and contents, in path order. Symlinks and other special files are
// refused: a role is text and templates.
func TreeHash(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file: a vendored role holds files and directories only", rel)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%t\x00%d\x00", filepath.ToSlash(rel), fi.Mode()&0o111 != 0, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// ReadImports reads only tend.yaml's imports, for tend role fetch: the
// rest of the repository may not load before its roles are fetched.
func ReadImports(dir string) ([]*Import, error) {
	l := &loader{dir: dir, repo: &Repo{Dir: dir, Roles: map[string]*Role{}}}
	f, root := l.read("tend.yaml")
	if root != nil {
		for _, fd := range f.fields(root, "tend.yaml") {
			if fd.key == "imports" {
				l.imports(f, fd.v)
			}
		}
	}
	return l.repo.Imports, l.errs.err()
}

// imports decodes tend.yaml's imports.
func (l *loader) imports(f *source, n *yaml.Node) {
	for _, fd := range f.fields(n, "imports") {
		if !f.checkName(fd.k, "role", fd.key) {
			continue
		}
		im := &Import{Name: fd.key, Pos: f.pos(fd.k), Path: "roles/" + fd.key}
		what := "imports: " + fd.key
		for _, x := range f.fields(fd.v, what) {
			switch x.key {
			case "git":
				im.Git, _ = f.str(x.v, what+": git")
			case "ref":
				im.Ref, _ = f.str(x.v, what+": ref")
			case "path":
				if p, ok := f.str(x.v, what+": path"); ok {
					if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "..") {
						f.errf(x.v, "%s: path %q must be a relative directory of the repository, without . or ..", what, p)
					}
					im.Path = p
				}
			default:
				f.unknown(x, what, []string{"git", "ref", "path"})
			}
		}
		if im.Git == "" || im.Ref == "" {
			f.errf(fd.k, "%s: git and ref are required: the repository and the tag, branch or commit to take the role from", what)
			continue
		}
		l.repo.Imports = append(l.repo.Imports, im)
	}
}

// vendored adds the imported roles, read from VendorDir, after checking
// them against the lock.
func (l *loader) vendored() {
	lock, err := ReadLock(l.dir)
	if err != nil {
		l.errs.add(Pos{File: LockFile}, "%v", err)
		return
	}
	for _, e := range l.list(VendorDir) {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !slices.ContainsFunc(l.repo.Imports, func(im *Import) bool { return im.Name == e.Name() }) {
			l.errs.add(Pos{File: VendorDir + "/" + e.Name()}, "vendored role %s is not in tend.yaml's imports: remove the directory, or import it", e.Name())
		}
	}
	for _, im := range l.repo.Imports {
		rel := VendorDir + "/" + im.Name
		if l.repo.Roles[im.Name] != nil {
			l.errs.add(im.Pos, "imports: %s: the repository has its own role roles/%s: rename one of them", im.Name, im.Name)
			continue
		}
		lk, ok := lock[im.Name]
		if _, err := os.Stat(filepath.Join(l.dir, rel, "role.yaml")); err != nil || !ok {
			l.errs.add(im.Pos, "imports: role %s is not fetched yet: run tend role fetch", im.Name)
			continue
		}
		if lk.Git != im.Git || lk.Ref != im.Ref || lk.Path != im.Path {
			l.errs.add(im.Pos, "imports: role %s: tend.yaml says %s %s (%s), %s has %s %s (%s): run tend role fetch %s", im.Name, im.Git, im.Ref, im.Path, LockFile, lk.Git, lk.Ref, lk.Path, im.Name)
			continue
		}
		sum, err := TreeHash(filepath.Join(l.dir, rel))
		if err != nil {
			l.errs.add(Pos{File: rel}, "%v", err)
			continue
		}
		if sum != lk.SHA256 {
			l.errs.add(Pos{File: rel}, "vendored role %s differs from what tend role fetch took from %s at %s (commit %s): change the role in its repository and fetch it again, or run tend role fetch %s to restore it", im.Name, im.Git, im.Ref, short(lk.Commit), im.Name)
			continue
		}
		l.repo.Roles[im.Name] = &Role{Name: im.Name, File: rel + "/role.yaml", Vars: Vars{}}
	}
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// roleDir is the directory of role name, relative to the repository:
// roles/NAME, or VendorDir/NAME for an imported one.
func (r *Repo) roleDir(name string) string {
	if role := r.Roles[name]; role != nil && role.File != "" {
		return path.Dir(role.File)
	}
	return "roles/" + name
}
