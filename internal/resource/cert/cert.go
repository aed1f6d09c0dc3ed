// Package cert implements the certificate resource: a TLS certificate for
// one set of DNS names, obtained by the host itself through ACME (HTTP-01,
// answered by nginx from a webroot, or DNS-01, through the zone's libdns
// provider with credentials only root reads) and renewed there by a
// systemd timer,
// so that it renews even when tend does not run for months. Its key and
// the ACME account's key are generated on the host and never leave it.
// The files are /etc/tend/certs/NAME/fullchain.pem and privkey.pem,
// written atomically and never missing: a self-signed placeholder stands
// in until the CA has issued the real certificate, so that a server
// configuration using them loads on a first apply.
package cert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tend/internal/job"
	"tend/internal/resource"
	"tend/internal/resource/file"
	"tend/internal/resource/scheduled"
	"tend/internal/spec"
)

// Root holds one directory per certificate.
const Root = "/etc/tend/certs"

// Dir is the directory of the certificate named name.
func Dir(name string) string { return filepath.Join(Root, name) }

// Cert is a certificate resource.
type Cert struct {
	Name        string
	Spec        spec.Certificate
	renewBefore time.Duration
	parts       []scheduled.Part
	// Log receives lego's warnings; io.Discard when nil.
	Log io.Writer
	now func() time.Time
}

// New makes the certificate resource named name from its spec.
func New(name string, s *spec.Certificate) (*Cert, error) {
	c := &Cert{Name: name, Spec: *s, now: time.Now}
	if c.Spec.Directory == "" {
		c.Spec.Directory = spec.LetsEncrypt
	}
	if c.Spec.KeyType == "" {
		c.Spec.KeyType = "ecdsa-p256"
	}
	if c.Spec.RenewBefore == "" {
		c.Spec.RenewBefore = "30d"
	}
	if c.Spec.Challenge == "" {
		c.Spec.Challenge = "http-01"
	}
	switch {
	case name == "" || strings.ContainsAny(name, "/ \n") || name[0] == '.':
		return nil, fmt.Errorf("invalid certificate name %q", name)
	case len(s.Names) == 0:
		return nil, errors.New("names is required")
	case c.Spec.Challenge == "dns-01" && c.Spec.DNS == nil:
		return nil, errors.New("challenge dns-01: no DNS zone given (tend plan gives the environment's zone holding the names)")
	case c.Spec.Challenge != "http-01" && c.Spec.Challenge != "dns-01":
		return nil, fmt.Errorf("challenge %s is not http-01 or dns-01", c.Spec.Challenge)
	}
	if _, ok := keyTypes[c.Spec.KeyType]; !ok {
		return nil, fmt.Errorf("key_type %q is not one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-4096", c.Spec.KeyType)
	}
	var err error
	if c.renewBefore, err = spec.ParseDays(c.Spec.RenewBefore); err != nil {
		return nil, err
	}
	// nginx's workers must pass through /var/lib/tend (the agent's state,
	// 0700 otherwise) to the webroot: 0711 lets them through without
	// listing it; tend's own files in it stay 0600.
	dirs := []struct {
		path string
		mode string
	}{{"/etc/tend", "0755"}, {Root, "0755"}, {Dir(name), "0755"}, {"/var/lib/tend", "0711"}, {Webroot, "0755"}, {AccountDir, "0700"}}
	for _, d := range dirs {
		r, err := file.NewDirectory(d.path, &spec.Directory{Mode: d.mode, Owner: "root", Group: "root"})
		if err != nil {
			return nil, err
		}
		c.parts = append(c.parts, scheduled.NewPart("directory "+d.path, r, false))
	}
	// The zone's credentials go to their own file, readable by root
	// only: certificate.json is world-readable.
	public := c.Spec
	if d := c.Spec.DNS; d != nil {
		pd := *d
		pd.Credentials = nil
		public.DNS = &pd
		creds, _ := json.MarshalIndent(d.Credentials, "", "  ")
		df, err := file.NewFile(filepath.Join(Dir(name), DNSFile), &spec.File{Content: string(creds) + "\n", Mode: "0600", Owner: "root", Group: "root"})
		if err != nil {
			return nil, err
		}
		c.parts = append(c.parts, scheduled.NewPart("dns credentials", df, true))
	} else {
		// Moved to http-01: the zone's credentials leave the host.
		c.parts = append(c.parts, scheduled.NewPart("dns credentials", noFile(filepath.Join(Dir(name), DNSFile)), false))
	}
	conf, _ := json.MarshalIndent(public, "", "  ")
	cf, err := file.NewFile(filepath.Join(Dir(name), ConfigFile), &spec.File{Content: string(conf) + "\n", Mode: "0644", Owner: "root", Group: "root"})
	if err != nil {
		return nil, err
	}
	c.parts = append(c.parts, scheduled.NewPart("config", cf, false))
	renewal, err := scheduled.NewCertRenewal(name, c.Spec.Names)
	if err != nil {
		return nil, fmt.Errorf("renewal job: %w", err)
	}
	c.parts = append(c.parts, scheduled.NewPart("renewal", renewal, false))
	return c, nil
}

// Load makes the resource of the certificate configured on this host as
// name (its certificate.json, written by apply): what the renewal job
// runs.
func Load(name string) (*Cert, error) {
	data, err := os.ReadFile(filepath.Join(Dir(name), ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", name, err)
	}
	var s spec.Certificate
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("certificate %s: %s: %w", name, ConfigFile, err)
	}
	if s.DNS != nil {
		data, err := os.ReadFile(filepath.Join(Dir(name), DNSFile))
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", name, err)
		}
		if err := json.Unmarshal(data, &s.DNS.Credentials); err != nil {
			return nil, fmt.Errorf("certificate %s: %s: %w", name, DNSFile, err)
		}
	}
	return New(name, &s)
}

// need says why a certificate must be issued now, or "" when the one
// installed is the CA's, for exactly these names, key type and directory,
// and not within renew_before of its expiry.
func (c *Cert) need(in *installed) string {
	switch {
	case in == nil:
		return "none yet"
	case in.problem != "":
		return "unusable: " + in.problem
	case in.placeholder:
		return "self-signed placeholder"
	case !spec.SameNames(in.leaf.DNSNames, c.Spec.Names):
		return "for " + strings.Join(in.leaf.DNSNames, " ")
	case in.issued.Directory != "" && in.issued.Directory != c.Spec.Directory:
		return "from " + in.issued.Directory
	case keyTypeOf(in.leaf) != c.Spec.KeyType:
		return "key " + keyTypeOf(in.leaf)
	}
	if left := in.leaf.NotAfter.Sub(c.now()); left < c.renewBefore {
		return fmt.Sprintf("expires %s (in %s, renew_before %s)", in.leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Minute), c.Spec.RenewBefore)
	}
	return ""
}

func (c *Cert) statusPath() string { return job.StatusPath(scheduled.CertJob(c.Name)) }

func directoryHost(d string) string {
	if u, err := url.Parse(d); err == nil && u.Host != "" {
		return u.Host
	}
	return d
}

// Check implements resource.Resource. It reads files only: asking the CA
// is for Apply.
func (c *Cert) Check(ctx context.Context) (*resource.Change, error) {
	ch, err := scheduled.CheckBrief(ctx, c.parts)
	if err != nil {
		return nil, err
	}
	if ch == nil {
		ch = &resource.Change{Action: resource.Update}
	}
	in, err := readInstalled(Dir(c.Name))
	if err != nil {
		return nil, err
	}
	if in == nil {
		ch.Action = resource.Create
		ch.Add("placeholder", "", "self-signed for "+strings.Join(c.Spec.Names, " "))
	}
	if why := c.need(in); why != "" {
		ch.Add("certificate", why, "issued by "+directoryHost(c.Spec.Directory)+" for "+strings.Join(c.Spec.Names, " "))
	} else if _, err := os.Stat(c.statusPath()); errors.Is(err, fs.ErrNotExist) {
		ch.Add("renewal record", "", "valid until "+in.leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if in != nil {
		for _, f := range []struct {
			name string
			m    resource.Meta
		}{{FullchainFile, chainMeta}, {KeyFile, keyMeta}} {
			_, have, err := resource.Stat(filepath.Join(Dir(c.Name), f.name))
			if err != nil {
				return nil, err
			}
			sub := &resource.Change{}
			resource.CheckMeta(sub, have, f.m)
			for _, x := range sub.Fields {
				ch.Add(f.name+" "+x.Name, x.From, x.To)
			}
		}
	}
	if c.Spec.Challenge == "dns-01" {
		// The zone's provider answers: nginx has no part in it.
		if len(ch.Fields) == 0 && ch.Diff == "" {
			return nil, nil
		}
		return ch, nil
	}
	if err := haveNginx(); err != nil {
		// A plan of a new host checks this before the package resource
		// installed nginx; apply fails if it still is not there.
		ch.Add("nginx", "not installed", "active")
		return ch, nil
	}
	want, why := snippetWanted()
	_, err = os.Stat(Snippet)
	have := err == nil
	switch {
	case want && !have:
		ch.Add("nginx acme server", "", Snippet)
	case want:
		if old, _ := os.ReadFile(Snippet); string(old) != SnippetText {
			ch.Add("nginx acme server", "changed", Snippet)
		}
	case have:
		ch.Add("nginx acme server", Snippet, "(none: "+why+")")
	}
	if !active(ctx, "nginx") {
		ch.Add("nginx", "inactive", "active")
	}
	if len(ch.Fields) == 0 && ch.Diff == "" {
		return nil, nil
	}
	return ch, nil
}

// Apply implements resource.Resource: the parts (directories, config,
// renewal timer), a placeholder where no usable certificate is, nginx
// serving the challenges, then the certificate when one is needed. The
// outcome is recorded as the renewal job's, so that status shows a failed
// first issuance as it shows a failed renewal.
func (c *Cert) Apply(ctx context.Context, _ *resource.Change) error {
	if err := scheduled.Apply(ctx, c.parts); err != nil {
		return err
	}
	dir := Dir(c.Name)
	in, err := readInstalled(dir)
	if err != nil {
		return err
	}
	if in == nil || in.problem != "" {
		chain, key, err := placeholder(c.Name, c.Spec.Names, c.now())
		if err != nil {
			return err
		}
		if err := install(dir, chain, key, nil); err != nil {
			return fmt.Errorf("placeholder: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		m    resource.Meta
	}{{FullchainFile, chainMeta}, {KeyFile, keyMeta}} {
		if err := resource.SetMeta(filepath.Join(dir, f.name), f.m); err != nil {
			return err
		}
	}
	if c.Spec.Challenge != "dns-01" {
		if err := ensureNginx(ctx); err != nil {
			return err
		}
	}
	jc := scheduled.CertJobConfig(c.Name, c.Spec.Names)
	unlock, err := job.Lock(&jc)
	if err != nil {
		return fmt.Errorf("%w: apply again when it is done", err)
	}
	defer unlock()
	start := c.now().UTC()
	var out string
	err = c.Renew(ctx, func(m string) { out += m + "\n" })
	return job.Record(&jc, start, out, err)
}

// Renew issues the certificate when need says so (installs it, reloads
// the services of reload:), and says what it did through say. It is what
// the renewal timer runs, and the end of Apply.
func (c *Cert) Renew(ctx context.Context, say func(string)) error {
	dir := Dir(c.Name)
	in, err := readInstalled(dir)
	if err != nil {
		return err
	}
	why := c.need(in)
	if why == "" {
		say(fmt.Sprintf("certificate %s for %s: valid until %s, renewal from %s: nothing to do", c.Name, strings.Join(c.Spec.Names, " "),
			in.leaf.NotAfter.UTC().Format(time.RFC3339), in.leaf.NotAfter.Add(-c.renewBefore).UTC().Format(time.RFC3339)))
		return nil
	}
	if c.Spec.Challenge != "dns-01" {
		if err := probe(ctx, c.Spec.Names); err != nil {
			return err
		}
	}
	log := c.Log
	if log == nil {
		log = io.Discard
	}
	chain, key, err := obtain(ctx, &c.Spec, log)
	if err != nil {
		return err
	}
	leaf, err := parseLeaf(chain)
	if err != nil {
		return fmt.Errorf("the CA's certificate: %w", err)
	}
	if err := keyMatches(leaf, key); err != nil {
		return fmt.Errorf("the CA's certificate: %w", err)
	}
	old := ""
	if in != nil && in.leaf != nil {
		old = in.leaf.SerialNumber.Text(16)
	}
	if err := install(dir, chain, key, &issued{Directory: c.Spec.Directory, KeyType: c.Spec.KeyType, Names: c.Spec.Names}); err != nil {
		return err
	}
	say(fmt.Sprintf("certificate %s for %s: issued by %s (was: %s), serial %s, valid until %s", c.Name, strings.Join(c.Spec.Names, " "),
		leaf.Issuer.CommonName, why, leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339)))
	if err := reload(ctx, c.Spec.Reload, c.Spec.Names[0], old); err != nil {
		return fmt.Errorf("certificate installed, but: %w", err)
	}
	return nil
}
