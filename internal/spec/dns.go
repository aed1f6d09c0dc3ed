// DNS zones: an environment's dns: mapping (see docs/dns.md). Records are
// checked here, with their positions; the records derived from hosts and
// sites are added by DNS once the hosts are compiled.

package spec

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// DNS providers.
const (
	DNSRFC2136 = "rfc2136"
	DNSGandi   = "gandi"
	DNSOVH     = "ovh"
)

var (
	dnsProviders = []string{DNSRFC2136, DNSGandi, DNSOVH}
	dnsZoneField = []string{"provider", "server", "key_name", "key_algorithm", "key_secret", "token", "endpoint",
		"application_key", "application_secret", "consumer_key", "purge", "ttl", "records"}
	// dnsSecretFields are the fields that name a secret, by provider, and
	// whether each is required.
	dnsSecretFields = map[string][]string{
		DNSRFC2136: {"key_secret"},
		DNSGandi:   {"token"},
		DNSOVH:     {"application_key", "application_secret", "consumer_key"},
	}
	tsigAlgorithms = []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
	// Types a zone's provider keeps, never tend.
	dnsRefused = []string{"SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY"}
)

// DNSMarkerPrefix starts the names of tend's ownership records (see
// docs/dns.md): a declared name may not start with it.
const DNSMarkerPrefix = "_tend"

// DNSZone is one zone of an environment's dns: mapping.
type DNSZone struct {
	Name     string // the zone, lowercase, without the final dot
	Pos      Pos
	Provider string // rfc2136, gandi or ovh
	// Server: rfc2136's HOST:PORT; KeyName and KeyAlgorithm its TSIG key.
	Server       string
	KeyName      string
	KeyAlgorithm string // default hmac-sha256
	Endpoint     string // ovh's API endpoint, default ovh-eu
	// Secrets maps a credential field (key_secret, token,
	// application_key...) to the name of a secret of the environment:
	// never a value.
	Secrets   map[string]string
	SecretPos map[string]Pos // where each is named
	Purge     bool           // records tend does not declare are deleted
	TTL       int            // default 300
	Records   []DNSRecord
}

// Where says which server or provider a zone is at, for messages.
func (z *DNSZone) Where() string {
	if z.Provider == DNSRFC2136 {
		return "rfc2136 server " + z.Server
	}
	return z.Provider
}

// DNSRecord is one record, in a canonical form: Name relative to its zone
// ("@" the apex, lowercase), Type uppercase, Data the presentation form of
// its data with absolute names (a TXT record's text unquoted, its strings
// joined), as libdns gives and takes it.
type DNSRecord struct {
	Name string
	TTL  int
	Type string
	Data string
	Pos  Pos
	From string // "" when declared; else what it is derived from, "site www on host app"
}

func (l *loader) dns(f *source, env *Environment, n *yaml.Node) {
	for _, fd := range f.fields(n, "dns") {
		zone := strings.TrimSuffix(strings.ToLower(fd.key), ".")
		what := "dns: zone " + zone
		if !validAddress(zone) || !strings.Contains(zone, ".") || numericRE.MatchString(zone) {
			f.errf(fd.k, "dns: %q is not a DNS zone name (such as example.org)", fd.key)
			continue
		}
		if slices.ContainsFunc(env.DNS, func(z *DNSZone) bool { return z.Name == zone }) {
			f.errf(fd.k, "%s: declared twice", what)
			continue
		}
		z := &DNSZone{Name: zone, Pos: f.pos(fd.k), KeyAlgorithm: "hmac-sha256", Endpoint: "ovh-eu", TTL: 300, Secrets: map[string]string{}, SecretPos: map[string]Pos{}}
		var records *yaml.Node
		nodes := map[string]*yaml.Node{}
		for _, x := range f.fields(fd.v, what) {
			w := what + ": " + x.key
			nodes[x.key] = x.k
			switch x.key {
			case "provider":
				if s, ok := f.str(x.v, w); ok {
					if !slices.Contains(dnsProviders, s) {
						f.errf(x.v, "%s: unknown provider %q (providers: %s)", w, s, strings.Join(dnsProviders, ", "))
					}
					z.Provider = s
				}
			case "server":
				if s, ok := f.str(x.v, w); ok {
					if !hostPortRE.MatchString(s) {
						f.errf(x.v, "%s: %q is not HOST:PORT (such as 192.0.2.53:53)", w, s)
					}
					z.Server = s
				}
			case "key_name":
				if s, ok := f.str(x.v, w); ok {
					if !validAddress(strings.TrimSuffix(s, ".")) {
						f.errf(x.v, "%s: %q is not a TSIG key name (a DNS name)", w, s)
					}
					z.KeyName = s
				}
			case "key_algorithm":
				if s, ok := f.str(x.v, w); ok {
					if !slices.Contains(tsigAlgorithms, s) {
						f.errf(x.v, "%s: %q is not one of %s", w, s, strings.Join(tsigAlgorithms, ", "))
					}
					z.KeyAlgorithm = s
				}
			case "endpoint":
				if s, ok := f.str(x.v, w); ok {
					z.Endpoint = s
				}
			case "key_secret", "token", "application_key", "application_secret", "consumer_key":
				if s, ok := f.str(x.v, w); ok {
					if !strings.HasPrefix(s, "vault_") || !varRE.MatchString(s) {
						f.errf(x.v, "%s: %q is not a secret name: name a secret of secrets/%s.yaml (vault_...), never write the credential here", w, s, env.Name)
						continue
					}
					z.Secrets[x.key], z.SecretPos[x.key] = s, f.pos(x.v)
				}
			case "purge":
				z.Purge, _ = f.boolean(x.v, w)
			case "ttl":
				if t, ok := f.integer(x.v, w); ok {
					if t < 1 || t > 1<<31-1 {
						f.errf(x.v, "%s: %d is out of range", w, t)
					}
					z.TTL = t
				}
			case "records":
				records = x.v
			default:
				f.unknown(x, what, dnsZoneField)
			}
		}
		switch {
		case z.Provider == "" && nodes["provider"] == nil:
			f.errf(fd.k, "%s: no provider: set provider: to one of %s", what, strings.Join(dnsProviders, ", "))
		case z.Provider != "" && slices.Contains(dnsProviders, z.Provider):
			l.dnsCredentials(f, z, fd.k, nodes)
		}
		var list []string
		var rnodes []*yaml.Node
		if records != nil {
			list, rnodes = f.strList(records, what+": records")
		}
		for i, s := range list {
			r, err := ParseRecord(zone, s, z.TTL)
			if err != nil {
				f.errf(rnodes[i], "%s: record %q: %v", what, s, err)
				continue
			}
			r.Pos = f.pos(rnodes[i])
			z.Records = append(z.Records, r)
		}
		for _, e := range checkRecords(z.Records) {
			l.errs.add(e.pos, "%s: %s", what, e.msg)
		}
		env.DNS = append(env.DNS, z)
	}
}

// dnsCredentials checks that z has the fields its provider needs, and no
// other provider's.
func (l *loader) dnsCredentials(f *source, z *DNSZone, at *yaml.Node, nodes map[string]*yaml.Node) {
	what := "dns: zone " + z.Name
	need := slices.Clone(dnsSecretFields[z.Provider])
	if z.Provider == DNSRFC2136 {
		need = append(need, "server", "key_name")
	}
	for _, k := range need {
		if nodes[k] == nil {
			f.errf(at, "%s: provider %s needs %s", what, z.Provider, k)
		}
	}
	own := slices.Concat(need, []string{"provider", "purge", "ttl", "records"})
	if z.Provider == DNSRFC2136 {
		own = append(own, "key_algorithm")
	}
	if z.Provider == DNSOVH {
		own = append(own, "endpoint")
	}
	for k, n := range nodes {
		if !slices.Contains(own, k) && slices.Contains(dnsZoneField, k) {
			f.errf(n, "%s: %s is not a field of provider %s", what, k, z.Provider)
		}
	}
}

// ParseRecord reads one record as written in the spec, "NAME [TTL] TYPE
// DATA" in zone-file syntax, relative to zone ("@" its apex), and returns
// it in canonical form; ttl is the TTL when the record gives none.
func ParseRecord(zone, s string, ttl int) (DNSRecord, error) {
	fields := strings.Fields(s)
	if len(fields) < 3 {
		return DNSRecord{}, fmt.Errorf("expected NAME [TTL] TYPE DATA, such as \"www A 192.0.2.1\"")
	}
	name, rest := fields[0], fields[1:]
	if t, err := strconv.Atoi(rest[0]); err == nil {
		ttl, rest = t, rest[1:]
	}
	if len(rest) > 0 && strings.EqualFold(rest[0], "IN") {
		rest = rest[1:]
	}
	if len(rest) < 2 {
		return DNSRecord{}, fmt.Errorf("expected NAME [TTL] TYPE DATA, such as \"www A 192.0.2.1\"")
	}
	typ := strings.ToUpper(rest[0])
	if _, ok := mdns.StringToType[typ]; !ok {
		return DNSRecord{}, fmt.Errorf("unknown record type %q", rest[0])
	}
	if slices.Contains(dnsRefused, typ) {
		return DNSRecord{}, fmt.Errorf("%s records are the provider's, not tend's", typ)
	}
	// The data as written, after the type: its spaces and quotes kept.
	data := afterFields(s, len(fields)-len(rest)+1)
	if ttl < 1 || ttl > 1<<31-1 {
		return DNSRecord{}, fmt.Errorf("TTL %d is out of range", ttl)
	}
	r, err := CanonicalRecord(zone, name, ttl, typ, data, true)
	if err != nil {
		return DNSRecord{}, err
	}
	if strings.HasPrefix(r.Name, DNSMarkerPrefix) {
		return DNSRecord{}, fmt.Errorf("names starting with %s are tend's ownership records", DNSMarkerPrefix)
	}
	if (r.Type == "TXT" || r.Type == "SPF") && strings.ContainsFunc(r.Data, func(c rune) bool { return c < ' ' || c > '~' || c == '\\' || c == '"' }) {
		// libdns carries TXT text unescaped and its RFC 2136 provider
		// quotes it again: an escape would differ on every plan.
		return DNSRecord{}, fmt.Errorf("TXT text with a quote, a backslash or a non-ASCII character is not supported: write printable ASCII")
	}
	if r.Type == "NS" && r.Name == "@" {
		return DNSRecord{}, fmt.Errorf("the zone's own NS records are the provider's, not tend's")
	}
	return r, nil
}

// afterFields returns s after its first n space-separated fields.
func afterFields(s string, n int) string {
	for range n {
		s = strings.TrimLeft(s, " \t")
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return ""
		}
		s = s[i:]
	}
	return strings.TrimSpace(s)
}

// CanonicalRecord parses one record of zone (name relative to it, or
// absolute with a final dot) and returns it in canonical form. quoted:
// data is zone-file syntax, TXT strings quoted; else a TXT record's data
// is its plain text, as libdns has it.
func CanonicalRecord(zone, name string, ttl int, typ, data string, quoted bool) (DNSRecord, error) {
	origin := mdns.Fqdn(zone)
	if typ == "TXT" && !quoted {
		data = strconv.Quote(data)
	}
	if name == "" {
		name = "@"
	}
	rr, err := mdns.NewRR(fmt.Sprintf("$ORIGIN %s\n%s %d IN %s %s", origin, name, ttl, typ, data))
	if err != nil {
		msg := err.Error()
		if pe, ok := err.(*mdns.ParseError); ok {
			msg = strings.TrimPrefix(pe.Error(), "dns: ")
			if i := strings.Index(msg, " at line:"); i >= 0 {
				msg = msg[:i]
			}
		}
		return DNSRecord{}, fmt.Errorf("%s", msg)
	}
	if rr == nil {
		return DNSRecord{}, fmt.Errorf("no record")
	}
	h := rr.Header()
	owner := strings.ToLower(h.Name)
	if owner != origin && !strings.HasSuffix(owner, "."+origin) {
		return DNSRecord{}, fmt.Errorf("%s is outside zone %s", strings.TrimSuffix(owner, "."), zone)
	}
	out := DNSRecord{Name: "@", TTL: int(h.Ttl), Type: mdns.TypeToString[h.Rrtype]}
	if owner != origin {
		out.Name = strings.TrimSuffix(owner, "."+origin)
	}
	if txt, ok := rr.(*mdns.TXT); ok {
		out.Data = strings.Join(txt.Txt, "")
	} else {
		out.Data = strings.TrimPrefix(rr.String(), h.String())
	}
	return out, nil
}

type posErr struct {
	pos Pos
	msg string
}

// checkRecords finds, among one zone's records: a record declared twice,
// the records of one name and type with different TTLs, a CNAME beside
// any other record of its name. Derived records (From set) at one name
// and type merge; a declared one beside them is a conflict.
func checkRecords(rs []DNSRecord) []posErr {
	var errs []posErr
	where := func(r DNSRecord) string {
		if r.From != "" {
			return fmt.Sprintf("%s (%s)", r.Pos, r.From)
		}
		return r.Pos.String()
	}
	for i, r := range rs {
		for _, p := range rs[:i] {
			if p.Name != r.Name {
				continue
			}
			derived := r.From != "" && p.From != ""
			switch {
			case r.Type == "CNAME" || p.Type == "CNAME":
				if derived && r.Type == p.Type && r.Data == p.Data {
					continue
				}
				errs = append(errs, posErr{r.Pos, fmt.Sprintf("%s: a CNAME cannot be beside another record of its name: %s %s at %s and %s %s at %s", r.Name, p.Type, p.Data, where(p), r.Type, r.Data, where(r))})
			case p.Type != r.Type || derived:
				continue
			case p.From != "" || r.From != "":
				errs = append(errs, posErr{r.Pos, fmt.Sprintf("%s %s declared twice with different data: %s at %s and %s at %s", r.Name, r.Type, p.Data, where(p), r.Data, where(r))})
			case p.Data == r.Data:
				errs = append(errs, posErr{r.Pos, fmt.Sprintf("%s %s %s declared twice: at %s and %s", r.Name, r.Type, r.Data, p.Pos, r.Pos)})
			case p.TTL != r.TTL:
				errs = append(errs, posErr{r.Pos, fmt.Sprintf("%s %s: one name and type has one TTL: %d at %s and %d at %s", r.Name, r.Type, p.TTL, p.Pos, r.TTL, r.Pos)})
			default:
				continue
			}
			break
		}
	}
	return errs
}

// DNS returns the zones of environment env with their desired records:
// the declared ones, then those derived from hosts, each compiled host of
// the environment given in hosts: a host named inside a zone gets the A
// or AAAA record of its address, a site's server names inside a zone the
// addresses of the hosts serving it. r.Addresses, when set (a lab
// rehearsal), replaces the hosts' addresses. A conflict between declared
// and derived records is an ErrorList naming both positions.
func (r *Repo) DNS(env string, hosts []*Host) ([]*DNSZone, error) {
	e := r.Environments[env]
	if e == nil {
		return nil, fmt.Errorf("unknown environment %q", env)
	}
	var errs ErrorList
	var out []*DNSZone
	for _, z := range e.DNS {
		c := *z
		c.Records = slices.Clone(z.Records)
		for _, h := range hosts {
			addr := h.Address
			if a, ok := r.Addresses[h.Name]; ok {
				addr = a
			}
			ip, err := netip.ParseAddr(addr)
			if err != nil {
				continue // a DNS name: nothing to point at
			}
			typ := "A"
			if ip.Is6() {
				typ = "AAAA"
			}
			decl := e.Host(h.Name)
			add := func(fqdn, from string, pos Pos) {
				rec, err := CanonicalRecord(z.Name, mdns.Fqdn(fqdn), z.TTL, typ, ip.String(), true)
				if err != nil {
					return // outside the zone
				}
				rec.Pos, rec.From = pos, from
				if !slices.ContainsFunc(c.Records, func(x DNSRecord) bool {
					return x.From != "" && x.Name == rec.Name && x.Type == rec.Type && x.Data == rec.Data
				}) {
					c.Records = append(c.Records, rec)
				}
			}
			if decl != nil && strings.Contains(h.Name, ".") {
				add(h.Name, "host "+h.Name, decl.Pos)
			}
			for _, res := range h.Resources {
				site, ok := res.Spec.(*Site)
				if !ok || res.State == StateAbsent {
					continue
				}
				for _, n := range site.ServerNames {
					add(n, "site "+res.Name+" on host "+h.Name, res.Pos)
				}
			}
		}
		for _, pe := range checkRecords(c.Records) {
			errs.add(pe.pos, "dns: zone %s: %s", z.Name, pe.msg)
		}
		out = append(out, &c)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}
