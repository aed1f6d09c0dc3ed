// Resource kinds of one family: TLS certificates obtained through ACME on
// the host itself.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// KindCertificate is the certificate kind.
const KindCertificate Kind = "certificate"

// LetsEncrypt is the default ACME directory: Let's Encrypt's production.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

var (
	certNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	dnsNameRE  = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Certificate is one TLS certificate for one set of DNS names, obtained
// and renewed by the host through ACME and written to
// /etc/tend/certs/NAME/fullchain.pem and privkey.pem. Name: a label (it
// names the directory and the renewal timer).
type Certificate struct {
	Names     []string `yaml:"names" json:"names"`         // DNS names; the first is the subject
	Directory string   `yaml:"directory" json:"directory"` // ACME directory URL; default Let's Encrypt production
	Email     string   `yaml:"email" json:"email"`         // the ACME account's contact; optional
	Challenge string   `yaml:"challenge" json:"challenge"` // http-01 (default) or dns-01 (through the zone's provider)
	KeyType   string   `yaml:"key_type" json:"key_type"`   // ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-4096
	// Reload: services reloaded when the certificate changes (nginx,
	// postfix, dovecot...); a service that is not running is left alone.
	Reload      []string `yaml:"reload" json:"reload"`
	RenewBefore string   `yaml:"renew_before" json:"renew_before"` // renew this long before expiry; default 30d
	// CARoots: PEM certificates trusted, besides the system's, for the
	// ACME server's own HTTPS: for a private or test CA (Pebble) only.
	CARoots string `yaml:"ca_roots" json:"ca_roots"`
	// DNS: for dns-01, the zone holding the names and its provider,
	// filled by Compile from the environment's dns: (never in the spec).
	DNS *CertDNS `yaml:"-" json:"dns,omitempty"`
}

// CertDNS is how a dns-01 certificate's host writes the challenge
// records: the zone holding its names and the zone's provider, with the
// values of its credentials (so the resource is sensitive).
type CertDNS struct {
	Zone         string            `json:"zone"`
	Provider     string            `json:"provider"`
	Server       string            `json:"server,omitempty"`
	KeyName      string            `json:"key_name,omitempty"`
	KeyAlgorithm string            `json:"key_algorithm,omitempty"`
	Endpoint     string            `json:"endpoint,omitempty"`
	Credentials  map[string]string `json:"credentials,omitempty"` // key_secret, token...: the values
}

// Zone is the spec's zone the host's provider is made from; its secrets
// are the credentials' values.
func (d *CertDNS) ZoneSpec() *DNSZone {
	return &DNSZone{Name: d.Zone, Provider: d.Provider, Server: d.Server, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm,
		Endpoint: d.Endpoint, Secrets: d.Credentials}
}

// resolve gives a dns-01 certificate its zone: the longest zone of the
// environment holding every name.
func (s *Certificate) resolve(c *compiler, r *Resource) {
	if s.Challenge != "dns-01" {
		return
	}
	var zone *DNSZone
	for _, z := range c.env.DNS {
		if zone != nil && len(zone.Name) >= len(z.Name) {
			continue
		}
		if !slices.ContainsFunc(s.Names, func(n string) bool {
			n = strings.TrimPrefix(n, "*.")
			return n != z.Name && !strings.HasSuffix(n, "."+z.Name)
		}) {
			zone = z
		}
	}
	if zone == nil {
		var names []string
		for _, z := range c.env.DNS {
			names = append(names, z.Name)
		}
		c.errs.add(r.fieldPos("challenge"), "certificate %s: challenge dns-01 needs a zone of the environment's dns: holding %s (zones: %s) (%s)",
			r.Name, strings.Join(s.Names, ", "), strings.Join(names, ", "), c.where())
		return
	}
	d := &CertDNS{Zone: zone.Name, Provider: zone.Provider, Server: zone.Server, KeyName: zone.KeyName, KeyAlgorithm: zone.KeyAlgorithm,
		Endpoint: zone.Endpoint, Credentials: map[string]string{}}
	for field, name := range zone.Secrets {
		v, ok := c.secrets[name]
		switch {
		case c.secrets == nil:
			v = SecretPlaceholder(name)
		case !ok:
			c.errs.add(zone.SecretPos[field], "secret %s (dns zone %s, for certificate %s) has no value in the secrets of environment %s", name, zone.Name, r.Name, c.env.Name)
		}
		d.Credentials[field] = v
	}
	s.DNS = d
	r.Sensitive = true
}

func (*Certificate) Kind() Kind { return KindCertificate }

func (s *Certificate) defaults() {
	or(&s.Directory, LetsEncrypt)
	or(&s.Challenge, "http-01")
	or(&s.KeyType, "ecdsa-p256")
	or(&s.RenewBefore, "30d")
}

// CertKeyTypes are the key types a certificate may have.
var CertKeyTypes = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-4096"}

func (s *Certificate) check(c *checker) {
	c.name(certNameRE, "a label of lowercase letters, digits, '.', '_' and '-' (it names /etc/tend/certs/NAME)")
	if !c.has("names") || len(s.Names) == 0 {
		if !c.lax() {
			c.errf("", "names is required: the DNS names the certificate is for")
		}
	}
	seen := map[string]bool{}
	for i, n := range s.Names {
		field := "names[" + strconv.Itoa(i) + "]"
		if !c.lit(n) {
			continue
		}
		switch {
		case !dnsNameRE.MatchString(n) || len(n) > 253:
			c.errf(field, "name %q is not a DNS name in lowercase, such as www.example.org", n)
		case strings.HasPrefix(n, "*.") && s.Challenge != "dns-01":
			c.errf(field, "name %q is a wildcard: a wildcard needs challenge: dns-01 (see docs/dns.md)", n)
		case seen[n]:
			c.errf(field, "name %q is given twice", n)
		}
		seen[n] = true
	}
	if c.line("directory", s.Directory) && c.lit(s.Directory) && s.Directory != "" {
		if u, err := url.Parse(s.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
			c.errf("directory", "directory %q is not an https:// URL of an ACME directory (Let's Encrypt's is %s)", s.Directory, LetsEncrypt)
		}
	}
	if c.line("email", s.Email) && c.lit(s.Email) && s.Email != "" && (!strings.Contains(s.Email, "@") || strings.ContainsAny(s.Email, " ,<>")) {
		c.errf("email", "email %q is not an email address", s.Email)
	}
	c.oneOf("challenge", s.Challenge, "http-01", "dns-01")
	c.oneOf("key_type", s.KeyType, CertKeyTypes...)
	for i, u := range s.Reload {
		if c.lit(u) && (!unitRE.MatchString(u) || strings.HasPrefix(u, "-")) {
			c.errf("reload["+strconv.Itoa(i)+"]", "reload %q is not a systemd service name such as nginx", u)
		}
	}
	if c.lit(s.RenewBefore) && s.RenewBefore != "" {
		if _, err := ParseDays(s.RenewBefore); err != nil {
			c.errf("renew_before", "renew_before: %v", err)
		}
	}
	if c.lit(s.CARoots) && s.CARoots != "" {
		if err := checkPEMCerts(s.CARoots); err != "" {
			c.errf("ca_roots", "ca_roots: %s", err)
		}
	}
}

// checkPEMCerts says what is wrong with a PEM bundle of certificates, or "".
func checkPEMCerts(s string) string {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return "holds a PEM block of type " + b.Type + ", not CERTIFICATE"
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return "certificate " + strconv.Itoa(n) + ": " + err.Error()
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return "expected PEM certificates (-----BEGIN CERTIFICATE-----) and nothing else"
	}
	return ""
}

// SameNames reports whether two name sets are the same set.
func SameNames(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// Openings opens port 80 to everyone on a host with a firewall: the
// certificate authority validates HTTP-01 challenges from anywhere.
func (s *Certificate) Openings(*Host) []Opening {
	if s.Challenge != "http-01" {
		return nil
	}
	return []Opening{{Proto: "tcp", Port: 80, What: "certificate " + strings.Join(s.Names, " ") + " (ACME HTTP-01)"}}
}
