package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"tend/internal/hint"
	"tend/internal/secret"
	"tend/internal/spec"
)

var vaultName = regexp.MustCompile(`\bvault_[A-Za-z0-9_]+`)

// checkSecrets applies the secrets convention to a loaded repository:
// every mapped secret (and every secret a DNS zone names) exists in its
// environment's secret file (names only,
// no key needed); each secret file's recipients are the ones its values were
// encrypted to (authenticated with a key that opens the file, counted
// without one); a vault_ name appears nowhere but in a secrets: mapping and
// the secret files; and, when a key at hand opens an environment's secrets,
// no secret value appears in plain text in the repository. It returns one
// message per problem, file:line first, and notes for what it could not check.
func checkSecrets(s *session, r *spec.Repo) (problems, notes []string) {
	files, err := repoFiles(r.Dir)
	if err != nil {
		return []string{err.Error()}, nil
	}
	ids, idErr := secret.Identities(s.getenv)
	mapping := map[string]bool{}          // "file:line" of every secrets: entry
	verified := map[string]*secret.File{} // by environment: files a key at hand opened and authenticated
	refused := map[string]bool{}          // environments whose file is reported as a problem
	for _, env := range r.EnvironmentNames() {
		e := r.Environments[env]
		path, _ := secret.Path(r.Dir, env)
		var f *secret.File
		if _, err := os.Stat(path); err == nil {
			if f, err = secret.Load(path); err != nil {
				problems = append(problems, err.Error())
				refused[env], f = true, nil
			}
		}
		if len(e.Secrets) > 0 && f == nil && err == nil {
			notes = append(notes, fmt.Sprintf("environment %s maps secrets but has no secrets/%s.yaml yet: plan and apply will refuse to run (tend secret set %s NAME)", env, env, env))
		}
		if f != nil {
			v, err := f.Verify(ids)
			switch {
			case err != nil:
				problems = append(problems, withHint(err))
				refused[env] = true
			case v.Keyed:
				verified[env] = f
				if n := v.Note(f); n != "" {
					notes = append(notes, n)
				}
			}
		}
		for _, ref := range e.Secrets {
			mapping[fmt.Sprintf("%s:%d", ref.Pos.File, ref.Pos.Line)] = true
			switch {
			case f != nil && !f.Has(ref.Secret):
				problems = append(problems, fmt.Sprintf("%s: secret %s is not in secrets/%s.yaml; add it with: tend secret set %s %s", ref.Pos, ref.Secret, env, env, ref.Secret))
			}
		}
		// A DNS zone's credentials are named where they are used.
		for _, z := range e.DNS {
			for _, field := range slices.Sorted(maps.Keys(z.Secrets)) {
				pos, name := z.SecretPos[field], z.Secrets[field]
				mapping[fmt.Sprintf("%s:%d", pos.File, pos.Line)] = true
				if f != nil && !f.Has(name) {
					problems = append(problems, fmt.Sprintf("%s: dns zone %s: %s: secret %s is not in secrets/%s.yaml; add it with: tend secret set %s %s", pos, z.Name, field, name, env, env, name))
				}
			}
		}
	}
	// vault_ names belong to the mapping and the secret files only.
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasPrefix(name, "secrets/") {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(files[name]))
		for line := 1; sc.Scan(); line++ {
			if m := vaultName.FindString(sc.Text()); m != "" && !mapping[fmt.Sprintf("%s:%d", name, line)] {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: secret names are used only under secrets: in an environment file; use its plain name", name, line, m))
			}
		}
	}
	// Plain-text copies of secret values, for the environments a key opens.
	if !hasSecretFiles(r) {
		return problems, notes
	}
	if idErr != nil {
		return problems, append(notes, "no secrets key at hand: the check for secret values in plain text was skipped, and the recipients of secret files were only counted (a key replaced by another goes unseen)")
	}
	for _, env := range r.EnvironmentNames() {
		f := verified[env]
		if f == nil {
			if _, err := os.Stat(filepath.Join(r.Dir, "secrets", env+".yaml")); err == nil && !refused[env] {
				notes = append(notes, fmt.Sprintf("the key at hand does not open secrets/%s.yaml: its values were not looked for in plain text, and its recipients were only counted", env))
			}
			continue
		}
		vals, err := f.Decrypt(ids)
		if err != nil {
			continue // reported above
		}
		for _, fd := range secret.FindPlaintext(vals, files) {
			problems = append(problems, fd.String()+" (environment "+env+"): remove it and use the secret's plain name")
		}
	}
	return problems, notes
}

// withHint returns err's message followed by its hint, indented, for a list
// of problems.
func withHint(err error) string {
	h := hint.Of(err)
	if h == "" {
		return err.Error()
	}
	return err.Error() + "\n  " + strings.ReplaceAll(h, "\n", "\n  ")
}

func hasSecretFiles(r *spec.Repo) bool {
	m, _ := filepath.Glob(filepath.Join(r.Dir, "secrets", "*.yaml"))
	return len(m) > 0
}

// repoFiles reads the repository's text files (not .git, not secrets/,
// nothing over 1 MiB), by slash path.
func repoFiles(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == ".git" || rel == "secrets" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte{0}) {
			out[rel] = b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return out, nil
}

var errSecrets = errors.New("the repository breaks the secrets convention")
