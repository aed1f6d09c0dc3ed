package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"tend/internal/ansible"
	"tend/internal/hint"
	"tend/internal/secret"
)

func importCmd() *command {
	return &command{
		name:    "import",
		summary: "convert a repository of another tool into a tend repository",
		subs:    []*command{importAnsibleCmd()},
	}
}

func importAnsibleCmd() *command {
	var out, playbook, passwordFile, envMap string
	var recipients stringList
	return &command{
		name:    "ansible",
		args:    "DIR",
		summary: "convert an Ansible repository: inventories, variables, vault, roles and tasks",
		help: `Reads the Ansible repository DIR: inventories/ENV/hosts (INI or YAML), one
environment each; group_vars and host_vars beside the inventories and the
playbook; the playbook (site.yml, or --playbook) and its roles. Writes
tend.yaml, environments/ENV.yaml, roles/ (role.yaml, converted templates,
files, handlers) into --out, and the vault_ variables of ansible-vault files
and !vault values into secrets/ENV.yaml, encrypted (--recipient for a new
file; the vault password from --password-file or stdin). Every task, template
expression or variable not converted is printed with its file and line, and
left out, so that the result validates. docs/ansible.md has the mapping.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", ".", "the tend repository `DIR` to write (its files must not exist)")
			fs.StringVar(&playbook, "playbook", "", "the playbook `FILE` in DIR (default site.yml)")
			fs.StringVar(&envMap, "env-map", "", "rename environments: `PAIRS` of INVENTORY=ENV, separated by commas (production=prod)")
			fs.StringVar(&passwordFile, "password-file", "", "read the vault password from `FILE`")
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new secret file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "DIR"); err != nil {
				return err
			}
			opts := ansible.Options{Playbook: playbook, EnvMap: map[string]string{}}
			for _, kv := range strings.Split(envMap, ",") {
				if kv == "" {
					continue
				}
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" || v == "" {
					return &usageError{msg: "--env-map wants INVENTORY=ENV pairs separated by commas"}
				}
				opts.EnvMap[k] = v
			}
			if passwordFile != "" {
				p, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("read vault password: %w", err)
				}
				opts.VaultPassword = []byte(strings.TrimSpace(string(p)))
				clear(p)
			} else if needsVault(args[0]) {
				pw, err := secret.ReadInput(s.stdin, "the vault password")
				if err != nil {
					return err
				}
				if pw == "" {
					return hint.New("the repository holds ansible-vault files and no vault password was given",
						"give it with --password-file FILE or on stdin")
				}
				opts.VaultPassword = []byte(pw)
			}
			res, err := ansible.Convert(args[0], opts)
			if err != nil {
				return err
			}
			return writeImport(s, out, res, recipients)
		},
	}
}

// needsVault says whether the repository holds an ansible-vault file or
// value, so that stdin is read for a password only when one is needed.
func needsVault(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found || !strings.Contains(p, "_vars") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil && (strings.HasPrefix(string(data), "$ANSIBLE_VAULT;") || strings.Contains(string(data), "!vault")) {
			found = true
		}
		return nil
	})
	return found
}

func writeImport(s *session, out string, res *ansible.Result, recipients []string) error {
	var paths []string
	for p := range res.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(out, p)); err == nil {
			return fmt.Errorf("%s exists: import writes a new repository (choose another --out)", filepath.Join(out, p))
		}
	}
	// secret files first: a refused one stops the import before any write
	var envs []string
	for env := range res.Secrets {
		envs = append(envs, env)
	}
	sort.Strings(envs)
	ids, err := secret.OptionalIdentities(s.getenv)
	if err != nil {
		return err
	}
	secretFiles := map[string]*secret.File{}
	for _, env := range envs {
		path, err := secretPath(out, env)
		if err != nil {
			return err
		}
		if secretFiles[env], err = secret.LoadOrNew(path, recipients); err != nil {
			return err
		}
	}
	for _, p := range paths {
		full := filepath.Join(out, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, res.Files[p], 0o644); err != nil {
			return err
		}
	}
	for _, env := range envs {
		f := secretFiles[env]
		check, err := f.Put(ids, res.Secrets[env], false)
		if err != nil {
			return err
		}
		s.logf("%s: imported %d secrets", f.Path, len(res.Secrets[env]))
		logVerification(s, f, check)
	}
	s.logf("wrote %d files to %s; %d tasks and handlers converted, %d things not converted", len(paths), out, res.Converted, len(res.Problems))
	for _, p := range res.Problems {
		s.printf("not converted: %s\n", p)
	}
	return nil
}
