// Package inventory says which hosts of an environment a command reaches
// and how: the hosts selected by --limit (host names or any role a host
// plays), their SSH addresses, the host keys pinned in known_hosts or the
// lab's, and the key tend logs in with. It needs no secret: commands that
// only talk to hosts (status, db) never decrypt the environment's secrets.
package inventory

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"tend/internal/hint"
	"tend/internal/lab"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
)

// Options say which hosts to reach and how.
type Options struct {
	Env      string
	Limit    []string // host, role and group names; empty: every host
	Lab      string   // reach the lab of this name instead of the real hosts
	Identity string   // SSH private key file; default $TEND_SSH_KEY, then ssh-agent
	// Only, when not nil, keeps of the selection the hosts it names (a
	// saved plan's); names that are not hosts of the environment are left
	// out, for the caller to report.
	Only []string
	// Getenv reads the environment ($TEND_SSH_KEY, SSH_AUTH_SOCK, the lab's
	// directories); os.Getenv when nil.
	Getenv func(string) string
}

func (o *Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// Host is one host to reach.
type Host struct {
	Name string
	Decl *spec.HostDecl
	SSH  ssh.Config
}

// InvalidError is a mistake in the command line or the repository (tend
// exits 2 on it), as opposed to a host or the network failing.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid marks err as a mistake in the command line or the repository.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &InvalidError{Err: err}
}

// Environment returns environment env of r, or an InvalidError naming the
// environments there are.
func Environment(r *spec.Repo, env string) (*spec.Environment, error) {
	e := r.Environments[env]
	if e == nil {
		return nil, Invalid(hint.New(fmt.Sprintf("no environment %q in %s", env, r.Dir),
			"environments are: "+strings.Join(r.EnvironmentNames(), ", ")))
	}
	return e, nil
}

// Select returns the hosts of e that limit names, by host name or by any
// role the host plays, including the roles pulled in by requires (every
// host when limit is empty). A name that matches nothing is an
// InvalidError.
func Select(r *spec.Repo, e *spec.Environment, limit []string) ([]*spec.HostDecl, error) {
	if len(limit) == 0 {
		return e.Hosts, nil
	}
	used := map[string]bool{}
	var out []*spec.HostDecl
	for _, h := range e.Hosts {
		roles := r.HostRoles(h)
		match := false
		for _, w := range limit {
			if h.Name == w || slices.Contains(roles, w) || slices.Contains(e.Groups[w], h.Name) {
				match, used[w] = true, true
			}
		}
		if match {
			out = append(out, h)
		}
	}
	for _, w := range limit {
		if !used[w] {
			return nil, Invalid(fmt.Errorf("--limit: %q is neither a host, a role nor a group of %s", w, e.Name))
		}
	}
	return out, nil
}

// Reach selects the hosts of o.Env and says how to connect to each: its
// address and pinned host key (known_hosts at the top of the repository)
// with the client key, or the lab's address, key and host key.
func Reach(r *spec.Repo, o Options) ([]Host, error) {
	e, err := Environment(r, o.Env)
	if err != nil {
		return nil, err
	}
	decls, err := Select(r, e, o.Limit)
	if err != nil {
		return nil, err
	}
	if o.Only != nil {
		decls = slices.DeleteFunc(slices.Clone(decls), func(h *spec.HostDecl) bool { return !slices.Contains(o.Only, h.Name) })
	}
	if o.Lab != "" {
		return reachLab(r, o, decls)
	}
	signer, err := ClientKey(o.Identity, o.getenv)
	if err != nil {
		return nil, err
	}
	known, err := ssh.LoadKnownHosts(filepath.Join(r.Dir, "known_hosts"))
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, h := range decls {
		port := h.SSH.Port
		if port == 0 {
			port = 22
		}
		hk := known.Lookup(h.Address, port)
		if hk == nil {
			return nil, hint.New(fmt.Sprintf("host %s (%s): no pinned host key in %s", h.Name, h.Address, known.Path),
				fmt.Sprintf("check its fingerprint, then record it: tend host trust %s %s", e.Name, h.Name))
		}
		out = append(out, Host{Name: h.Name, Decl: h,
			SSH: ssh.Config{Host: h.Address, Port: port, User: h.SSH.User, Signer: signer, HostKey: hk}})
	}
	return out, nil
}

// LabAddresses returns the address of every host of lab o.Lab, by name:
// where a rehearsal's hosts reach each other.
func LabAddresses(o Options) (map[string]string, error) {
	st, err := lab.Load(lab.DefaultConfig(o.getenv), o.Lab)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, h := range st.Hosts {
		out[h.Name] = h.Addr
	}
	return out, nil
}

// LabNetwork returns the network of lab o.Lab's hosts and gateway: a
// DNS server there (or on loopback) is one a test or the user started,
// never a real one.
func LabNetwork(o Options) (netip.Prefix, error) {
	st, err := lab.Load(lab.DefaultConfig(o.getenv), o.Lab)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.ParsePrefix(st.Subnet())
}

func reachLab(r *spec.Repo, o Options, decls []*spec.HostDecl) ([]Host, error) {
	cfg := lab.DefaultConfig(o.getenv)
	st, err := lab.Load(cfg, o.Lab)
	if err != nil {
		return nil, err
	}
	signer, err := lab.Signer(cfg, o.Lab)
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, h := range decls {
		lh := st.Host(h.Name)
		if lh == nil {
			return nil, hint.New(fmt.Sprintf("lab %s has no host %s", o.Lab, h.Name),
				fmt.Sprintf("boot the environment's hosts: tend lab up --lab %s --from %s --env %s", o.Lab, r.Dir, o.Env))
		}
		hk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(lh.HostKey))
		if err != nil {
			return nil, fmt.Errorf("lab %s: host %s: host key: %w", o.Lab, h.Name, err)
		}
		out = append(out, Host{Name: h.Name, Decl: h, SSH: ssh.Config{Host: lh.Addr, Signer: signer, HostKey: hk}})
	}
	return out, nil
}

// ClientKey returns the SSH key tend logs in with: the identity file, then
// $TEND_SSH_KEY (the key itself, for CI), then the first key of ssh-agent.
func ClientKey(identity string, getenv func(string) string) (gossh.Signer, error) {
	if identity != "" {
		b, err := os.ReadFile(identity)
		if err != nil {
			return nil, err
		}
		k, err := gossh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("--identity %s: %w", identity, err)
		}
		return k, nil
	}
	if k := getenv("TEND_SSH_KEY"); k != "" {
		sg, err := gossh.ParsePrivateKey([]byte(k))
		if err != nil {
			return nil, hint.Wrap(errors.New("TEND_SSH_KEY does not hold a private key"), "set it to the content of an unencrypted OpenSSH private key")
		}
		return sg, nil
	}
	if sock := getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			signers, err := agent.NewClient(conn).Signers()
			if err == nil && len(signers) > 0 {
				return signers[0], nil
			}
		}
	}
	return nil, hint.New("no SSH key to log in with", "give --identity FILE, set TEND_SSH_KEY, or load a key into ssh-agent")
}
