package plan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"tend/internal/dns"
	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/secret"
	"tend/internal/spec"
)

// DNS is what a run does with an environment's zones: the zones to keep,
// and why the others are left out (Notes).
type DNS struct {
	Zones []*dns.Zone
	Notes []string
	// LeftOut: the run selects some hosts or resources, and so no zone.
	LeftOut bool
}

// dnsZones builds the zones of environment e with their desired records,
// derived from every host of e (not only the selected ones): a run with
// --limit, --only or --skip leaves DNS out, as a note. A lab rehearsal keeps
// only the zones whose rfc2136 server is on loopback (one a test or the
// user started): never a real provider.
func dnsZones(repo *spec.Repo, e *spec.Environment, o PrepareOptions, secrets map[string]string, labNet netip.Prefix) (*DNS, error) {
	out := &DNS{}
	if len(e.DNS) == 0 {
		return out, nil
	}
	switch {
	case len(o.Limit) > 0 || o.Options.Only != nil && !o.Saved:
		out.Notes = append(out.Notes, "dns: left out: the zones follow every host of the environment, and this run selects some (--limit); run without it to plan DNS")
		out.LeftOut = true
		return out, nil
	case len(o.Only)+len(o.Skip) > 0:
		out.Notes = append(out.Notes, "dns: left out: a run of some resources (--only, --skip) changes no zone; run without them to plan DNS")
		out.LeftOut = true
		return out, nil
	}
	var hosts []*spec.Host
	for _, h := range e.Hosts {
		c, err := repo.Compile(e.Name, h.Name, secrets)
		if err != nil {
			return nil, inventory.Invalid(err)
		}
		hosts = append(hosts, c)
	}
	zones, err := repo.DNS(e.Name, hosts)
	if err != nil {
		return nil, inventory.Invalid(err)
	}
	lookup := secretLookup(repo.Dir, e, secrets, o.Getenv)
	for _, z := range zones {
		if o.Lab != "" && !labSafe(z.Provider, z.Server, labNet) {
			out.Notes = append(out.Notes, fmt.Sprintf("dns zone %s: left out of the lab rehearsal: %s is not an rfc2136 server on loopback or the lab's network", z.Name, z.Where()))
			continue
		}
		dz, err := dns.NewZone(z, z.Records, func(field string) (string, error) { return lookup(z.Secrets[field]) })
		if err != nil {
			return nil, err
		}
		out.Zones = append(out.Zones, dz)
	}
	return out, nil
}

// labSafe says whether a lab rehearsal may use a zone: an rfc2136
// server on loopback or on the lab's network, which a test or the user
// started; never a real provider or name server.
func labSafe(provider, server string, labNet netip.Prefix) bool {
	if provider != spec.DNSRFC2136 {
		return false
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.IsLoopback() || labNet.IsValid() && labNet.Contains(ip))
}

// labCertificates refuses, in a lab rehearsal, a dns-01 certificate of
// compiled host h whose zone is not lab-safe: the lab host would write
// its challenge records at the real provider.
func labCertificates(h *spec.Host, labNet netip.Prefix) error {
	for _, r := range h.Resources {
		c, ok := r.Spec.(*spec.Certificate)
		if !ok || c.DNS == nil || labSafe(c.DNS.Provider, c.DNS.Server, labNet) {
			continue
		}
		where := c.DNS.ZoneSpec().Where()
		return hint.Wrap(fmt.Errorf("host %s: %s: challenge dns-01 through dns zone %s (%s): a lab rehearsal never touches a real provider", h.Name, r.ID, c.DNS.Zone, where),
			"rehearse it with the zone on an rfc2136 server of the lab's network (a Knot on its gateway), or leave the host out with --limit")
	}
	return nil
}

// secretLookup returns the value of a secret of e by name: from secrets
// when it is there (a secret the environment maps), else from the secrets
// file, decrypted once.
func secretLookup(dir string, e *spec.Environment, secrets map[string]string, getenv func(string) string) func(string) (string, error) {
	var all map[string]string
	return func(name string) (string, error) {
		if v, ok := secrets[name]; ok {
			return v, nil
		}
		if all == nil {
			path, err := secret.Path(dir, e.Name)
			if err != nil {
				return "", err
			}
			if _, err := os.Stat(path); err != nil {
				return "", hint.Wrap(fmt.Errorf("secret %s: environment %s has no secrets file %s", name, e.Name, path),
					fmt.Sprintf("set it: tend secret set %s %s", e.Name, name))
			}
			f, err := secret.Load(path)
			if err != nil {
				return "", err
			}
			if !f.Has(name) {
				return "", hint.Wrap(fmt.Errorf("secret %s is not in %s", name, path), fmt.Sprintf("set it: tend secret set %s %s", e.Name, name))
			}
			if getenv == nil {
				getenv = os.Getenv
			}
			ids, err := secret.Identities(getenv)
			if err != nil {
				return "", err
			}
			vals, err := f.Decrypt(ids)
			if err != nil {
				return "", err
			}
			all = map[string]string{}
			for n, v := range vals {
				all[n] = v.Reveal()
			}
		}
		v, ok := all[name]
		if !ok {
			return "", hint.Wrap(fmt.Errorf("secret %s is not in the secrets of %s", name, e.Name), fmt.Sprintf("set it: tend secret set %s %s", e.Name, name))
		}
		return v, nil
	}
}

// PlanDNS reads every zone's records from its provider and compares them
// with the spec. It is called before any host is reached: a zone that
// cannot be read (a server down, a wrong key) stops the run before it
// changes anything, with an error naming the zone and its server.
func PlanDNS(ctx context.Context, d *DNS) ([]*dns.Plan, error) {
	var out []*dns.Plan
	var errs []string
	var first error
	for _, z := range d.Zones {
		cur, err := dns.Current(ctx, z)
		if err != nil {
			errs = append(errs, err.Error())
			if first == nil {
				first = err
			}
			continue
		}
		out = append(out, dns.Diff(z, cur))
	}
	switch len(errs) {
	case 0:
		return out, nil
	case 1:
		return nil, first
	}
	return nil, hint.Wrap(fmt.Errorf("%s", strings.Join(errs, "; ")), hint.Of(first))
}

// ApplyDNS makes the plans' changes, zone by zone, after the hosts: a
// record then points at a site already served. It goes on after a zone
// fails, and returns the zones' errors.
func ApplyDNS(ctx context.Context, d *DNS, plans []*dns.Plan) error {
	var errs []string
	var first error
	for i, p := range plans {
		if len(p.Changes) == 0 {
			continue
		}
		if err := dns.Apply(ctx, d.Zones[i], p); err != nil {
			errs = append(errs, err.Error())
			if first == nil {
				first = err
			}
		}
	}
	if len(errs) == 1 {
		return first
	}
	if len(errs) > 1 {
		return hint.Wrap(fmt.Errorf("%s", strings.Join(errs, "; ")), hint.Of(first))
	}
	return nil
}
