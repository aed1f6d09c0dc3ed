// Package ansible converts an Ansible repository (inventories, group_vars and
// host_vars, a playbook and its roles) into a tend repository: environments
// and hosts, roles with resources, templates and handlers, and the vault_
// variables as secrets. What it cannot convert it leaves out and reports with
// the file and line it came from, so that the result still validates.
package ansible

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"tend/internal/secret"
)

// Options say what to read.
type Options struct {
	// Playbook is the playbook file relative to the repository (default
	// site.yml, then playbook.yml).
	Playbook string
	// EnvMap renames environments: inventory name -> tend environment.
	EnvMap map[string]string
	// VaultPassword opens ansible-vault files and !vault values; nil when
	// none was given (an encrypted file is then an error).
	VaultPassword []byte
}

// Problem is one thing not converted, at its place in the Ansible repository.
type Problem struct {
	File string // relative to the Ansible repository
	Line int    // 0 when unknown
	What string // the task or variable
	Why  string
}

func (p Problem) String() string {
	at := p.File
	if p.Line > 0 {
		at = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s: %s: %s", at, p.What, p.Why)
}

// Result is the converted repository: files to write and secrets to store.
type Result struct {
	// Files maps a path relative to the tend repository to its content.
	Files map[string][]byte
	// Secrets maps an environment to its secret values (vault_ names).
	Secrets map[string]map[string]secret.Value
	// Problems lists what was left out or changed in meaning, in order.
	Problems []Problem
	// Converted counts the tasks converted.
	Converted int
}

// converter holds the state of one conversion.
type converter struct {
	dir  string
	opts Options
	res  *Result
	envs []*environment
	// roles converted, by name; roleOrder keeps the order first seen.
	roles     map[string]*role
	roleOrder []string
	// secretNames: every vault_ name seen (in any environment).
	secretNames map[string]bool
	// defCount: on how many hosts each variable is set, of hostCount.
	defCount  map[string]int
	hostCount int
}

func (c *converter) problem(file string, line int, what, why string) {
	c.res.Problems = append(c.res.Problems, Problem{File: file, Line: line, What: what, Why: why})
}

func (c *converter) rel(path string) string {
	if r, err := filepath.Rel(c.dir, path); err == nil {
		return r
	}
	return path
}

// Convert reads the Ansible repository in dir and returns the tend
// repository it becomes.
func Convert(dir string, opts Options) (*Result, error) {
	c := &converter{dir: dir, opts: opts, res: &Result{Files: map[string][]byte{}, Secrets: map[string]map[string]secret.Value{}},
		roles: map[string]*role{}, secretNames: map[string]bool{}}
	if err := c.readInventories(); err != nil {
		return nil, err
	}
	if err := c.readPlaybook(); err != nil {
		return nil, err
	}
	if err := c.write(); err != nil {
		return nil, err
	}
	return c.res, nil
}

// readInventories finds inventories/NAME/hosts{,.ini,.yml,.yaml} and
// inventories/NAME{.ini,.yml,.yaml}, one environment each.
func (c *converter) readInventories() error {
	base := filepath.Join(c.dir, "inventories")
	entries, err := os.ReadDir(base)
	if err != nil {
		return fmt.Errorf("read inventories: %w (an inventory per environment is expected in inventories/ENV/hosts)", err)
	}
	for _, e := range entries {
		name, file, invDir := e.Name(), "", ""
		if e.IsDir() {
			for _, f := range []string{"hosts", "hosts.ini", "hosts.yml", "hosts.yaml", "inventory", "inventory.yml"} {
				if _, err := os.Stat(filepath.Join(base, name, f)); err == nil {
					file, invDir = filepath.Join(base, name, f), filepath.Join(base, name)
					break
				}
			}
		} else if ext := filepath.Ext(name); ext == ".ini" || ext == ".yml" || ext == ".yaml" {
			file, invDir, name = filepath.Join(base, name), base, strings.TrimSuffix(name, ext)
		}
		if file == "" {
			continue
		}
		envName := name
		if m, ok := c.opts.EnvMap[name]; ok {
			envName = m
		}
		inv, err := c.parseInventory(file)
		if err != nil {
			return err
		}
		env := &environment{name: envName, inv: inv}
		// group_vars and host_vars beside the playbook apply to every
		// inventory; those beside the inventory to this one; the
		// playbook's win, as in Ansible.
		for _, d := range []string{invDir, c.dir} {
			if err := c.readVarDirs(env, d); err != nil {
				return err
			}
		}
		c.envs = append(c.envs, env)
	}
	if len(c.envs) == 0 {
		return fmt.Errorf("no inventory in %s (inventories/ENV/hosts, INI or YAML)", c.rel(base))
	}
	sort.Slice(c.envs, func(i, j int) bool { return c.envs[i].name < c.envs[j].name })
	return nil
}
