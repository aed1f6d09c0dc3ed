package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/secret"
	"tend/internal/spec"
	"tend/internal/tunnel"
	"tend/internal/wire"
)

// PrepareOptions say what Prepare loads and which hosts it reaches.
type PrepareOptions struct {
	Repo string // the repository's directory
	inventory.Options
	// Only and Skip select resources by tag or role name (--only,
	// --skip): a run of a part of the hosts' resources, which removes
	// nothing (see wire.Desired.Partial).
	Only, Skip []string
	// Saved: apply --plan, whose hosts (Only) are the plan's; its DNS
	// changes are checked against the zones (Saved.CheckDNS).
	Saved bool
}

// Prepare loads the repository, checks it and the parity of the
// environment with its like: environment, selects and reaches the hosts
// (see inventory.Reach), decrypts the environment's secrets and compiles
// the desired state of each selected host. A mistake in the repository or
// the command line comes back as an inventory.InvalidError.
func Prepare(o PrepareOptions) ([]Target, error) {
	targets, _, err := PrepareRun(o)
	return targets, err
}

// PrepareRun is Prepare, and also builds the environment's DNS zones
// with their desired records and providers (see DNS).
func PrepareRun(o PrepareOptions) ([]Target, *DNS, error) {
	repo, err := spec.Load(o.Repo)
	if err != nil {
		return nil, nil, inventory.Invalid(err)
	}
	e, err := inventory.Environment(repo, o.Env)
	if err != nil {
		return nil, nil, err
	}
	if err := spec.CheckParity(repo, o.Env); err != nil {
		return nil, nil, inventory.Invalid(err)
	}
	for _, tag := range append(slices.Clone(o.Only), o.Skip...) {
		if err := repo.CheckTag(tag); err != nil {
			return nil, nil, inventory.Invalid(fmt.Errorf("--only/--skip: %w", err))
		}
	}
	// A missing secrets file is a mistake in the repository: said before
	// anything else is needed (an SSH key, the secrets identity).
	if _, err := secretFile(repo.Dir, e); err != nil {
		return nil, nil, inventory.Invalid(err)
	}
	// Hosts next: a typo in --limit or an unknown host key is reported
	// without asking for the secrets identity.
	hosts, err := inventory.Reach(repo, o.Options)
	if err != nil {
		return nil, nil, err
	}
	var labNet netip.Prefix
	if o.Lab != "" {
		// A rehearsal's sites proxy to the lab's hosts, never to the
		// addresses of the real ones.
		if repo.Addresses, err = inventory.LabAddresses(o.Options); err != nil {
			return nil, nil, err
		}
		if labNet, err = inventory.LabNetwork(o.Options); err != nil {
			return nil, nil, err
		}
	}
	secrets, err := Secrets(repo.Dir, e, o.Getenv)
	if err != nil {
		return nil, nil, err
	}
	var ca *tunnel.CA
	var caMu sync.Mutex // rebuilds run on many hosts at once
	// build compiles host h with facts (nil: placeholders) into the
	// desired state the agent reads.
	build := func(h inventory.Host, facts map[string]any) (*wire.Desired, error) {
		c, err := repo.CompileFacts(o.Env, h.Name, secrets, facts)
		if err != nil {
			return nil, inventory.Invalid(err)
		}
		if o.Lab != "" {
			labTunnels(c, hosts)
			if err := labCertificates(c, labNet); err != nil {
				return nil, err
			}
		}
		if hasTunnels(c) {
			caMu.Lock()
			if ca == nil {
				ca, err = TunnelCA(repo.Dir, e, secrets, o.Getenv)
			}
			caMu.Unlock()
			if err != nil {
				return nil, err
			}
			if err := IssueTunnels(c, ca, time.Now()); err != nil {
				return nil, err
			}
		}
		if len(o.Only)+len(o.Skip) > 0 {
			c.Resources = slices.DeleteFunc(c.Resources, func(r *spec.Resource) bool { return !r.Selected(o.Only, o.Skip) })
		}
		d, err := Desired(c)
		if err != nil {
			return nil, err
		}
		d.Partial = len(o.Only)+len(o.Skip) > 0
		return d, nil
	}
	var targets []Target
	for _, h := range hosts {
		d, err := build(h, nil)
		if err != nil {
			return nil, nil, err
		}
		t := Target{Name: h.Name, SSH: h.SSH, Desired: d}
		if repo.UsesFacts {
			t.Rebuild = func(facts map[string]any) (*wire.Desired, error) {
				d, err := build(h, facts)
				var inv *inventory.InvalidError
				if errors.As(err, &inv) {
					return nil, fmt.Errorf("with the host's facts: %w", inv.Err)
				}
				return d, err
			}
		}
		targets = append(targets, t)
	}
	d, err := dnsZones(repo, e, o, secrets, labNet)
	if err != nil {
		return nil, nil, err
	}
	return targets, d, nil
}

// namesDNSSecrets says whether a DNS zone of e names a secret (a
// dns-01 certificate's compile needs its value).
func namesDNSSecrets(e *spec.Environment) bool {
	for _, z := range e.DNS {
		if len(z.Secrets) > 0 {
			return true
		}
	}
	return false
}

// Secrets decrypts the secrets of environment e, with the identities
// getenv names (see secret.Identities). An environment that maps no
// secret needs no identity: the map is then empty.
func Secrets(dir string, e *spec.Environment, getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	if getenv == nil {
		getenv = os.Getenv
	}
	if len(e.Secrets) == 0 && !namesDNSSecrets(e) {
		return out, nil
	}
	path, err := secretFile(dir, e)
	if err != nil {
		return nil, err
	}
	if path == "" { // only DNS zones name secrets
		if path, err = secret.Path(dir, e.Name); err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); err != nil {
			return out, nil // said by the zone that needs one (secretLookup)
		}
	}
	file, err := secret.Load(path)
	if err != nil {
		return nil, err
	}
	ids, err := secret.Identities(getenv)
	if err != nil {
		return nil, err
	}
	vals, err := file.Decrypt(ids)
	if err != nil {
		return nil, err
	}
	for name, v := range vals {
		out[name] = v.Reveal()
	}
	return out, nil
}

// secretFile returns the path of the secrets file of e, which maps
// secrets; an error says which mapping needs it when it does not exist.
func secretFile(dir string, e *spec.Environment) (string, error) {
	if len(e.Secrets) == 0 {
		return "", nil
	}
	path, err := secret.Path(dir, e.Name)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		ref := e.Secrets[0]
		return "", hint.Wrap(fmt.Errorf("%s: environment %s maps secret %s, but secret file %s does not exist", ref.Pos, e.Name, ref.Secret, path),
			fmt.Sprintf("create it with the first secret: tend secret set %s %s", e.Name, ref.Secret))
	}
	return path, nil
}
