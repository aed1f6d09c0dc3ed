// Package spec reads an infrastructure repository (tend.yaml, environments/,
// roles/) into a typed model, strictly: unknown fields are refused and every
// problem is reported with its file:line:column, all at once. It compiles the
// model into each host's ordered, rendered resources and compares
// environments for parity. It reads files but never contacts hosts.
//
// The resource kinds live by family in kind_*.go, each kind's struct (with
// its YAML and JSON names), defaults and checks together; resource.go holds
// the one list of kinds (kinds), the decoding and the checker, and syntax.go
// the parsers of values the host would refuse (calendar, cron, pg_hba
// addresses). Adding a kind touches its family's file and that list.
package spec

import (
	"slices"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// Repo is a loaded infrastructure repository.
type Repo struct {
	Dir          string                  // the repository root, as given to Load
	Name         string                  // the project's name, from tend.yaml
	Vars         Vars                    // project-wide variables, from tend.yaml
	Environments map[string]*Environment // by name (the file name without .yaml)
	Roles        map[string]*Role        // by name (the directory name)
	// RemoveUnmanagedPackages: packages that leave the spec are removed
	// from the hosts, not only those that say purge_on_removal.
	RemoveUnmanagedPackages bool
	// Addresses, when set, replace the declared address of the hosts it
	// names where a resource names another host (a site's host: and role:
	// upstreams): a lab rehearsal's hosts reach each other at their lab
	// addresses. Set it before Compile.
	Addresses map[string]string
	// Imports are tend.yaml's roles from other repositories (see
	// VendorDir), in declaration order.
	Imports []*Import
	// UsesFacts: a template refers to .facts, so plan and apply compile
	// each host again with the facts its probe gathered (see Facts).
	UsesFacts bool

	// inline holds the parsed template of every string field holding a
	// template action, by its node; files the parsed template files, by
	// role then path under templates/. Both are read-only after Load, so
	// Compile is safe for concurrent use.
	inline map[*yaml.Node]*template.Template
	files  map[string]map[string]*template.Template
}

// EnvironmentNames returns the environments' names, sorted.
func (r *Repo) EnvironmentNames() []string {
	var out []string
	for n := range r.Environments {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Environment is one environments/NAME.yaml file.
type Environment struct {
	Name      string
	File      string      // relative to the repository
	Like      string      // the environment this one mirrors, or ""
	LikePos   Pos         // where like is set
	MayDiffer []PathRule  // what may differ from the like environment
	Vars      Vars        // environment variables
	Secrets   []SecretRef // plain variable names mapped to secret names
	Hosts     []*HostDecl // in declaration order
	// Groups name sets of hosts beyond roles (a site, a rollout wave):
	// --limit and firewall sources (group:NAME) take them, templates see .host.groups.
	Groups map[string][]string
	DNS    []*DNSZone // the zones of its dns: mapping, in declaration order
}

// GroupsOf returns the groups host belongs to, sorted.
func (e *Environment) GroupsOf(host string) []string {
	var out []string
	for g, hs := range e.Groups {
		if slices.Contains(hs, host) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// Host returns the host named name, or nil.
func (e *Environment) Host(name string) *HostDecl {
	for _, h := range e.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Secret returns the mapping of plain variable name, or nil.
func (e *Environment) Secret(name string) *SecretRef {
	for i := range e.Secrets {
		if e.Secrets[i].Var == name {
			return &e.Secrets[i]
		}
	}
	return nil
}

// SecretRef maps the plain variable Var to the secret Secret (vault_...):
// the one place where secret names appear besides the secrets file.
type SecretRef struct {
	Var    string
	Secret string
	Pos    Pos
}

// PathRule is one may_differ entry: a dotted path such as vars.server_name
// or hosts.web.kind, where a segment "*" matches any one segment.
type PathRule struct {
	Path string
	Pos  Pos
}

// SSH is how to connect to a host.
type SSH struct {
	User string // default root
	Port int    // default 22
}

// HostDecl is a host as declared in an environment file.
type HostDecl struct {
	Name      string
	Pos       Pos
	Like      string            // the matching host of the like environment
	Address   string            // what SSH connects to
	Addresses map[string]string // extra named addresses
	SSH       SSH
	Provider  string
	Location  string
	Kind      string // bare-metal, vps, proxmox-ct or proxmox-vm
	Arch      string // default amd64
	Roles     []string
	Vars      Vars

	rolePos []Pos
}

// Role is one roles/NAME/role.yaml file.
type Role struct {
	Name      string
	File      string
	Requires  []string
	Vars      Vars // defaults
	Resources []*Resource
	Handlers  []*Handler
	// When is a condition (a template rendering to true or false): the
	// role's resources are declared on a host only where it holds (its
	// handlers and variables stay).
	When string

	requiresPos []Pos
	whenNode    *yaml.Node
	src         *source
}

// Handler is an action run once at the end of a run when a resource that
// notifies it changed.
type Handler struct {
	Name    string
	Service string // the service to act on
	Action  string // reload or restart
	// Command, instead of a service: a shell command line run as root
	// (sh -c), e.g. newaliases or postmap /etc/postfix/virtual.
	Command string
	Role    string
	Pos     Pos

	src  *source
	node *yaml.Node // the service value
	cmd  *yaml.Node // the command value
}
