// Resource kinds of one family: the web edge: nginx sites.
// Each kind has its struct, Kind, defaults and check together; the one
// list of kinds is kinds() in resource.go.

package spec

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The kinds of this family.
const (
	KindSite Kind = "site"
)

var (
	siteNameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	serverNameRE = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	ngxSizeRE    = regexp.MustCompile(`^[0-9]+[kKmMgG]?$`)
	ngxTimeRE    = regexp.MustCompile(`^[0-9]+(ms|s|m|h|d)?$`)
	rateRE       = regexp.MustCompile(`^[1-9][0-9]*r/[sm]$`)
	headerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)
	upstreamRE   = regexp.MustCompile(`^(host|role):([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?):([0-9]{1,5})$`)
	hostPortRE   = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$`)
	locPathRE    = regexp.MustCompile(`^(= |\^~ )?/[^\s{};]*$|^~\*? \S.*$`)
)

// Site is one nginx site, rendered into its own configuration file
// (/etc/nginx/sites-enabled/tend-NAME.conf) and reloaded safely (see
// docs/web.md). Name: a label (lowercase letters, digits and '-').
//
// Its own location / proxies to Upstreams, serves Root, or both: Root
// first, the Upstreams (cached) for what Root lacks. Locations adds more.
type Site struct {
	ServerNames []string `yaml:"server_names" json:"server_names"`
	// Listen: the addresses to listen on ("*" every IPv4 address, "::"
	// every IPv6 one, or one address of the host); default both.
	Listen    []string `yaml:"listen" json:"listen"`
	HTTPPort  int      `yaml:"http_port" json:"http_port"`   // default 80
	HTTPSPort int      `yaml:"https_port" json:"https_port"` // default 443, with tls
	TLS       SiteTLS  `yaml:"tls" json:"tls"`
	// Upstreams: ADDRESS:PORT, NAME:PORT, host:HOST:PORT (a host of the
	// environment) or role:ROLE:PORT (every host of the environment with
	// that role), resolved to addresses by Compile.
	Upstreams  []string          `yaml:"upstreams" json:"upstreams"`
	Root       string            `yaml:"root" json:"root"`
	Proxy      SiteProxy         `yaml:"proxy" json:"proxy"`
	Cache      SiteCache         `yaml:"cache" json:"cache"`
	BodySize   string            `yaml:"client_max_body_size" json:"client_max_body_size"` // default 1m
	Allow      []string          `yaml:"allow" json:"allow"`                               // addresses or CIDRs; the rest get 403
	RateLimit  string            `yaml:"rate_limit" json:"rate_limit"`                     // per client address, e.g. 10r/s
	RateBurst  int               `yaml:"rate_burst" json:"rate_burst"`
	Headers    map[string]string `yaml:"headers" json:"headers"`         // added to responses; "" drops a default one
	ErrorPages map[string]string `yaml:"error_pages" json:"error_pages"` // status code -> URI, e.g. "404": /404.html
	ErrorRoot  string            `yaml:"error_root" json:"error_root"`   // the directory error pages are served from
	Redirects  []SiteRedirect    `yaml:"redirects" json:"redirects"`
	Rewrites   []SiteRewrite     `yaml:"rewrites" json:"rewrites"`
	Locations  []SiteLocation    `yaml:"locations" json:"locations"`
	// Resolved maps each host: and role: upstream to its addresses
	// (ADDRESS:PORT); filled by Compile.
	Resolved map[string][]string `yaml:"-" json:"resolved,omitempty"`
}

// SiteTLS is where a site's certificate comes from: the certificate
// resource of that name on the same host, or two files.
type SiteTLS struct {
	Certificate string `yaml:"certificate" json:"certificate"`
	CertFile    string `yaml:"cert_file" json:"cert_file"`
	KeyFile     string `yaml:"key_file" json:"key_file"`
}

// SiteProxy tunes proxying to upstreams; in a location, what it leaves
// out is the site's.
type SiteProxy struct {
	Timeout        string `yaml:"timeout" json:"timeout"`                 // read and send; default 60s
	ConnectTimeout string `yaml:"connect_timeout" json:"connect_timeout"` // default 10s
	Buffering      *bool  `yaml:"buffering" json:"buffering"`             // default true
	Websockets     *bool  `yaml:"websockets" json:"websockets"`           // pass Upgrade; default false
}

// SiteCache is the cache of what a static root fetches from its
// upstreams.
type SiteCache struct {
	Size     string `yaml:"size" json:"size"`         // default 1g
	Valid    string `yaml:"valid" json:"valid"`       // how long a fetched answer is fresh; default 1h
	Inactive string `yaml:"inactive" json:"inactive"` // dropped when unused this long; default 30d
}

// SiteRedirect answers requests for exactly From with a redirect to To.
type SiteRedirect struct {
	From string `yaml:"from" json:"from"`
	To   string `yaml:"to" json:"to"`
	Code int    `yaml:"code" json:"code"` // default 301
}

// SiteRewrite is an nginx rewrite: URIs matching the regular expression
// Match become To; Flag is last, break, redirect or permanent.
type SiteRewrite struct {
	Match string `yaml:"match" json:"match"`
	To    string `yaml:"to" json:"to"`
	Flag  string `yaml:"flag" json:"flag"`
}

// SiteLocation is one more location of a site: a path ("/api/",
// "= /exact", "^~ /prefix", "~ regex", "~* regex") with upstreams, a
// root (or both, as for the site), or a fixed answer (return: "404",
// "200 ok", "302 https://...").
type SiteLocation struct {
	Path      string    `yaml:"path" json:"path"`
	Upstreams []string  `yaml:"upstreams" json:"upstreams"`
	Root      string    `yaml:"root" json:"root"`
	Return    string    `yaml:"return" json:"return"`
	Proxy     SiteProxy `yaml:"proxy" json:"proxy"`
	BodySize  string    `yaml:"client_max_body_size" json:"client_max_body_size"`
}

func (*Site) Kind() Kind { return KindSite }

// Defaults fills what the spec left out with the documented defaults, as
// Compile does; the agent calls it again, for specs made by other means.
// It is idempotent.
func (s *Site) Defaults() { s.defaults() }

func (s *Site) defaults() {
	if len(s.Listen) == 0 {
		s.Listen = []string{"*", "::"}
	}
	if s.HTTPPort == 0 {
		s.HTTPPort = 80
	}
	if s.HTTPSPort == 0 {
		s.HTTPSPort = 443
	}
	or(&s.Proxy.Timeout, "60s")
	or(&s.Proxy.ConnectTimeout, "10s")
	or(&s.BodySize, "1m")
	or(&s.Cache.Size, "1g")
	or(&s.Cache.Valid, "1h")
	or(&s.Cache.Inactive, "30d")
	for i := range s.Redirects {
		if s.Redirects[i].Code == 0 {
			s.Redirects[i].Code = 301
		}
	}
}

// HasTLS reports whether the site serves HTTPS.
func (s *Site) HasTLS() bool { return s.TLS != SiteTLS{} }

// CertPaths returns the certificate and key files the site is served
// with ("" without tls): a certificate resource's are
// /etc/tend/certs/NAME/fullchain.pem and privkey.pem.
func (s *Site) CertPaths() (cert, key string) {
	if s.TLS.Certificate != "" {
		d := "/etc/tend/certs/" + s.TLS.Certificate + "/"
		return d + "fullchain.pem", d + "privkey.pem"
	}
	return s.TLS.CertFile, s.TLS.KeyFile
}

func (s *Site) check(c *checker) {
	c.name(siteNameRE, "lowercase letters, digits and '-' (it names the site's file and nginx zones)")
	// Everything lands in nginx configuration: one line of printable text.
	eachString(s, func(key string, p *string) {
		if ch, ok := controlChar(*p); ok && c.lit(*p) {
			c.errf(key, "%s holds the control character %q: it is written into nginx configuration; give it as one line of printable text", key, ch)
		}
	})
	if len(s.ServerNames) == 0 && !c.lax() {
		c.errf("", "server_names is required: the names the site answers to")
	}
	for i, n := range s.ServerNames {
		if c.lit(n) && !serverNameRE.MatchString(n) {
			c.errf(fmt.Sprintf("server_names[%d]", i), "server name %q is not a lowercase host name (a leading \"*.\" is allowed)", n)
		}
	}
	for i, a := range s.Listen {
		if c.lit(a) && a != "*" && net.ParseIP(strings.Trim(a, "[]")) == nil {
			c.errf(fmt.Sprintf("listen[%d]", i), "listen %q is not \"*\", \"::\" or an IP address of the host (the ports are http_port and https_port)", a)
		}
	}
	c.port("http_port", s.HTTPPort)
	c.port("https_port", s.HTTPSPort)
	if s.HasTLS() && s.HTTPPort == s.HTTPSPort && s.HTTPPort != 0 {
		c.errf("https_port", "https_port %d is also http_port", s.HTTPSPort)
	}
	switch t := s.TLS; {
	case t.Certificate != "" && (t.CertFile != "" || t.KeyFile != ""):
		c.errf("tls", "tls: give either certificate (a certificate resource of the host) or cert_file and key_file, not both")
	case t.Certificate != "":
		if c.lit(t.Certificate) && !labelRE.MatchString(t.Certificate) {
			c.errf("tls.certificate", "tls.certificate %q is not the name of a certificate resource", t.Certificate)
		}
	case t.CertFile != "" || t.KeyFile != "":
		if t.CertFile == "" || t.KeyFile == "" {
			c.errf("tls", "tls: cert_file and key_file go together")
		}
		c.absPath("tls.cert_file", t.CertFile)
		c.absPath("tls.key_file", t.KeyFile)
	case c.has("tls") && !c.lax():
		c.errf("tls", "tls: give certificate (a certificate resource of the host) or cert_file and key_file")
	}
	if !c.lax() && len(s.Upstreams) == 0 && s.Root == "" && !slices.ContainsFunc(s.Locations, func(l SiteLocation) bool { return l.Path == "/" }) {
		c.errf("", "a site needs upstreams (to proxy to), a root (to serve files from), or both (files, else the upstreams)")
	}
	c.upstreams("upstreams", s.Upstreams)
	c.absPath("root", s.Root)
	c.proxy("proxy", s.Proxy)
	c.ngx("cache.size", s.Cache.Size, ngxSizeRE, "a size such as 512m or 1g")
	c.ngx("cache.valid", s.Cache.Valid, ngxTimeRE, "a time such as 10m, 1h or 7d")
	c.ngx("cache.inactive", s.Cache.Inactive, ngxTimeRE, "a time such as 10m, 1h or 30d")
	c.ngx("client_max_body_size", s.BodySize, ngxSizeRE, "a size such as 10m (0: no limit)")
	for i, a := range s.Allow {
		if !c.lit(a) {
			continue
		}
		if _, _, err := net.ParseCIDR(a); err != nil && net.ParseIP(a) == nil {
			c.errf(fmt.Sprintf("allow[%d]", i), "allow %q is not an address or a network such as 192.0.2.0/24 or 2001:db8::/32", a)
		}
	}
	c.ngx("rate_limit", s.RateLimit, rateRE, "requests per second or minute per client, such as 10r/s or 60r/m")
	if s.RateBurst < 0 {
		c.errf("rate_burst", "rate_burst must be 0 or more")
	}
	if s.RateBurst > 0 && s.RateLimit == "" {
		c.errf("rate_burst", "rate_burst needs rate_limit")
	}
	for k := range s.Headers {
		if !headerNameRE.MatchString(k) {
			c.errf("headers."+k, "header name %q must be letters, digits and '-'", k)
		}
	}
	for k, v := range s.ErrorPages {
		if n, err := strconv.Atoi(k); err != nil || n < 300 || n > 599 {
			c.errf("error_pages."+k, "error_pages: %q is not an HTTP status code from 300 to 599", k)
		}
		if c.lit(v) && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t")) {
			c.errf("error_pages."+k, "error_pages.%s %q must be a URI path such as /404.html", k, v)
		}
	}
	c.absPath("error_root", s.ErrorRoot)
	for i, r := range s.Redirects {
		f := fmt.Sprintf("redirects[%d]", i)
		if c.lit(r.From) && (!strings.HasPrefix(r.From, "/") || strings.ContainsAny(r.From, " \t")) {
			c.errf(f+".from", "redirect from %q must be a URI path such as /old", r.From)
		}
		if r.To == "" && !c.lax() {
			c.errf(f, "redirect: to is required")
		}
		if c.lit(r.To) && strings.ContainsAny(r.To, " \t") {
			c.errf(f+".to", "redirect to %q holds a space", r.To)
		}
		if r.Code != 0 && !slices.Contains([]int{301, 302, 303, 307, 308}, r.Code) {
			c.errf(f+".code", "redirect code %d is not one of 301, 302, 303, 307, 308", r.Code)
		}
	}
	for i, r := range s.Rewrites {
		f := fmt.Sprintf("rewrites[%d]", i)
		if (r.Match == "" || r.To == "") && !c.lax() {
			c.errf(f, "rewrite: match and to are required")
		}
		c.oneOf(f+".flag", r.Flag, "last", "break", "redirect", "permanent")
	}
	paths := map[string]int{}
	for i, l := range s.Locations {
		f := fmt.Sprintf("locations[%d]", i)
		if l.Path == "" {
			if !c.lax() {
				c.errf(f, "location: path is required")
			}
		} else if c.lit(l.Path) && !locPathRE.MatchString(l.Path) {
			c.errf(f+".path", "location path %q must be /prefix, = /exact, ^~ /prefix, ~ regex or ~* regex", l.Path)
		}
		if j, dup := paths[l.Path]; dup {
			c.errf(f+".path", "location %q is also locations[%d]", l.Path, j)
		}
		paths[l.Path] = i
		if l.Path == "/" && (len(s.Upstreams) > 0 || s.Root != "") {
			c.errf(f+".path", "location / is the site's own: give its upstreams and root at the site level")
		}
		serves := len(l.Upstreams) > 0 || l.Root != ""
		if serves == (l.Return != "") && !c.lax() {
			c.errf(f, "a location needs upstreams, a root (or both), or return, and not return with the others")
		}
		c.upstreams(f+".upstreams", l.Upstreams)
		c.absPath(f+".root", l.Root)
		if l.Return != "" && c.lit(l.Return) {
			if _, _, err := ParseReturn(l.Return); err != nil {
				c.errf(f+".return", "return %q: %v", l.Return, err)
			}
		}
		c.proxy(f+".proxy", l.Proxy)
		c.ngx(f+".client_max_body_size", l.BodySize, ngxSizeRE, "a size such as 10m (0: no limit)")
	}
}

// ParseReturn reads a location's return: a status code, then a URL (for
// 301, 302, 303, 307, 308) or a text.
func ParseReturn(v string) (int, string, error) {
	code, rest, _ := strings.Cut(v, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 200 || n > 599 {
		return 0, "", fmt.Errorf("must start with a status code from 200 to 599, e.g. \"404\" or \"301 https://example.org/\"")
	}
	if slices.Contains([]int{301, 302, 303, 307, 308}, n) && rest == "" {
		return 0, "", fmt.Errorf("a redirect needs its URL after the code")
	}
	return n, rest, nil
}

func (c *checker) port(field string, p int) {
	if c.has(field) && (p < 1 || p > 65535) {
		c.errf(field, "%s must be between 1 and 65535", field)
	}
}

func (c *checker) ngx(field, v string, re *regexp.Regexp, what string) {
	if v != "" && c.lit(v) && !re.MatchString(v) {
		c.errf(field, "%s %q is not %s", field, v, what)
	}
}

func (c *checker) proxy(field string, p SiteProxy) {
	c.ngx(field+".timeout", p.Timeout, ngxTimeRE, "a time such as 60s or 5m")
	c.ngx(field+".connect_timeout", p.ConnectTimeout, ngxTimeRE, "a time such as 10s")
}

func (c *checker) upstreams(field string, us []string) {
	for i, u := range us {
		if !c.lit(u) {
			continue
		}
		f := fmt.Sprintf("%s[%d]", field, i)
		var port string
		if m := upstreamRE.FindStringSubmatch(u); m != nil {
			port = m[4]
		} else if m := hostPortRE.FindStringSubmatch(u); m != nil && !strings.HasPrefix(u, "host:") && !strings.HasPrefix(u, "role:") {
			port = m[3]
			if strings.HasPrefix(u, "[") && net.ParseIP(strings.Trim(m[1], "[]")) == nil {
				port = ""
			}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			c.errf(f, "upstream %q is not ADDRESS:PORT, NAME:PORT, host:HOST:PORT or role:ROLE:PORT", u)
		}
	}
}

// resolver is a spec naming other hosts of the environment, which
// Compile resolves to addresses once the spec is checked.
type resolver interface {
	resolve(c *compiler, r *Resource)
}

// resolve fills Resolved with the addresses of every host: and role:
// upstream of the site.
func (s *Site) resolve(c *compiler, r *Resource) {
	lists := map[string][]string{"upstreams": s.Upstreams}
	for i, l := range s.Locations {
		lists[fmt.Sprintf("locations[%d].upstreams", i)] = l.Upstreams
	}
	for field, us := range lists {
		for i, u := range us {
			m := upstreamRE.FindStringSubmatch(u)
			if m == nil || s.Resolved[u] != nil {
				continue
			}
			addrs, err := c.addresses(m[1], m[2], m[4])
			if err != nil {
				c.errs.add(r.fieldPos(fmt.Sprintf("%s[%d]", field, i)), "site %s: upstream %s: %v (%s)", r.Name, u, err, c.where())
				continue
			}
			if s.Resolved == nil {
				s.Resolved = map[string][]string{}
			}
			s.Resolved[u] = addrs
		}
	}
}

// addresses returns ADDRESS:PORT for host NAME, or for every host with
// role NAME, of the environment being compiled.
func (c *compiler) addresses(what, name, port string) ([]string, error) {
	var out []string
	for _, h := range c.env.Hosts {
		if what == "host" && h.Name == name || what == "role" && slices.Contains(c.repo.expand(h.Roles), name) {
			addr := h.Address
			if a, ok := c.repo.Addresses[h.Name]; ok {
				addr = a
			}
			out = append(out, net.JoinHostPort(addr, port))
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var names []string
	for _, h := range c.env.Hosts {
		names = append(names, h.Name)
	}
	if what == "host" {
		return nil, fmt.Errorf("environment %s has no host %q (hosts: %s)", c.env.Name, name, strings.Join(names, ", "))
	}
	if c.repo.Roles[name] == nil {
		return nil, fmt.Errorf("no role %q", name)
	}
	return nil, fmt.Errorf("no host of environment %s has role %q", c.env.Name, name)
}

// crossCheck checks what a resource says of others of the same host: a
// site's tls.certificate names a certificate resource of the host, no two
// sites answer the same name on the same port. A site comes after the
// certificate and the files it is served with.
func (c *compiler) crossCheck(rs []*Resource) {
	c.editConflicts(rs)
	byID := map[string]*Resource{}
	for _, r := range rs {
		if r.State != StateAbsent {
			byID[r.ID] = r
		}
	}
	names := map[string]*Resource{}
	for _, r := range rs {
		s, ok := r.Spec.(*Site)
		if !ok || r.State == StateAbsent {
			continue
		}
		need := func(id string) {
			if byID[id] != nil && !slices.Contains(r.Requires, id) {
				r.Requires = append(r.Requires, id)
			}
		}
		if t := s.TLS.Certificate; t != "" {
			id := string(KindCertificate) + ":" + t
			if byID[id] == nil {
				c.errs.add(r.fieldPos("tls.certificate"), "site %s: tls.certificate: the host declares no certificate %s (add \"- certificate: %s\" to a role of the host) (%s)", r.Name, t, t, c.where())
			}
			need(id)
		}
		need(string(KindFile) + ":" + s.TLS.CertFile)
		need(string(KindFile) + ":" + s.TLS.KeyFile)
		ports := []int{s.HTTPPort}
		if s.HasTLS() {
			ports = append(ports, s.HTTPSPort)
		}
		for i, n := range s.ServerNames {
			for _, p := range ports {
				k := fmt.Sprintf("%s:%d", n, p)
				if o := names[k]; o != nil && o != r {
					c.errs.add(r.fieldPos(fmt.Sprintf("server_names[%d]", i)), "site %s: server name %s on port %d is also site %s's (%s)", r.Name, n, p, o.Name, c.where())
				}
				names[k] = r
			}
		}
	}
}

// Openings opens the site's ports in the host's firewall: with tls, port
// http_port to everyone (it redirects, and answers ACME challenges,
// which come from anywhere) and https_port to the allowlist; without, its
// port to the allowlist. No allowlist means everyone.
func (s *Site) Openings(*Host) []Opening {
	from := s.Allow
	what := "site " + strings.Join(s.ServerNames, " ")
	if s.TLS.Certificate == "" && s.TLS.CertFile == "" {
		return []Opening{{Proto: "tcp", Port: s.HTTPPort, From: from, What: what}}
	}
	return []Opening{
		{Proto: "tcp", Port: s.HTTPPort, What: what + " (redirect, ACME)"},
		{Proto: "tcp", Port: s.HTTPSPort, From: from, What: what},
	}
}
