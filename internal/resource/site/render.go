package site

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"tend/internal/spec"
)

// ACMERoot is the webroot HTTP-01 challenges are answered from: a request
// for /.well-known/acme-challenge/TOKEN is served from
// ACMERoot/.well-known/acme-challenge/TOKEN, on port 80 of every site.
const ACMERoot = "/var/lib/tend/acme"

// CacheDir is where a site's fallback cache lives: CacheDir/tend-NAME.
const CacheDir = "/var/cache/nginx"

// DefaultHeaders are added to every response of a site unless its
// headers say otherwise ("" drops one). Strict-Transport-Security only
// goes out over HTTPS.
var DefaultHeaders = map[string]string{
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "SAMEORIGIN",
	"Referrer-Policy":           "strict-origin-when-cross-origin",
	"Strict-Transport-Security": "max-age=31536000",
}

// q quotes s for nginx: inside double quotes nginx reads \" and \\ (and
// \n, \t, \r: escaping every backslash keeps a regular expression's \d
// and \n as written).
func q(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// ident is the site's name as part of nginx identifiers (zones,
// upstreams, variables): '-' becomes '_' (names have no '_', so two
// sites never share one).
func ident(name string) string { return "tend_" + strings.ReplaceAll(name, "-", "_") }

type writer struct {
	b     strings.Builder
	depth int
}

func (w *writer) line(format string, a ...any) {
	if strings.HasPrefix(format, "}") {
		w.depth--
	}
	w.b.WriteString(strings.Repeat("    ", w.depth))
	fmt.Fprintf(&w.b, format, a...)
	w.b.WriteString("\n")
	if strings.HasSuffix(format, "{") {
		w.depth++
	}
}

// upstreamList is one list of upstreams of the site, rendered as one
// nginx upstream block.
type upstreamList struct {
	name    string
	servers []string
}

// Render returns the nginx configuration of site name: what goes into
// its file. It fails when an upstream naming a host or role was not
// resolved (a spec not compiled).
func Render(name string, s *spec.Site) (string, error) {
	id := ident(name)
	w := &writer{}
	w.line("# Managed by tend: site %s. tend rewrites this file on every apply.", name)
	w.line("")

	// The site's upstream lists: its own (u0), then its locations'.
	ups := map[int]upstreamList{}
	add := func(i int, list []string) error {
		if len(list) == 0 {
			return nil
		}
		u := upstreamList{name: fmt.Sprintf("%s_u%d", id, i)}
		for _, x := range list {
			switch {
			case strings.HasPrefix(x, "host:") || strings.HasPrefix(x, "role:"):
				addrs := s.Resolved[x]
				if len(addrs) == 0 {
					return fmt.Errorf("upstream %s was not resolved to addresses (compile the spec with tend)", x)
				}
				u.servers = append(u.servers, addrs...)
			default:
				u.servers = append(u.servers, x)
			}
		}
		ups[i] = u
		return nil
	}
	if err := add(0, s.Upstreams); err != nil {
		return "", err
	}
	for i, l := range s.Locations {
		if err := add(i+1, l.Upstreams); err != nil {
			return "", err
		}
	}
	for i := 0; i <= len(s.Locations); i++ {
		u, ok := ups[i]
		if !ok {
			continue
		}
		w.line("upstream %s {", u.name)
		for _, x := range slices.Compact(u.servers) {
			w.line("server %s;", x)
		}
		w.line("keepalive 16;")
		w.line("}")
	}
	fallback := s.Root != "" && len(s.Upstreams) > 0
	for _, l := range s.Locations {
		fallback = fallback || l.Root != "" && len(l.Upstreams) > 0
	}
	if fallback {
		w.line("proxy_cache_path %s levels=1:2 keys_zone=%s_cache:10m max_size=%s inactive=%s use_temp_path=off;",
			q(CacheDir+"/tend-"+name), id, s.Cache.Size, s.Cache.Inactive)
	}
	if s.RateLimit != "" {
		w.line("limit_req_zone $binary_remote_addr zone=%s_rate:10m rate=%s;", id, s.RateLimit)
	}
	if len(s.Allow) > 0 {
		// Checked in every server before any location is chosen (the
		// server's rewrite phase), so that no location, not even one
		// answering with return, escapes the allowlist.
		w.line("geo $%s_denied {", id)
		w.line("default 1;")
		for _, a := range s.Allow {
			w.line("%s 0;", a)
		}
		w.line("}")
	}
	w.line("map $http_upgrade $%s_connection {", id)
	w.line(`default "upgrade";`)
	w.line(`"" "";`)
	w.line("}")

	tls := s.HasTLS()
	w.line("")
	w.line("server {")
	for _, a := range s.Listen {
		w.line("listen %s;", listenAddr(a, s.HTTPPort))
	}
	serverCommon(w, id, s, true)
	w.line("location ^~ /.well-known/acme-challenge/ {")
	w.line("root %s;", q(ACMERoot))
	if len(s.Allow) > 0 {
		w.line("allow all;")
	}
	w.line("}")
	if tls {
		target := "https://$host$request_uri"
		if s.HTTPSPort != 443 {
			target = "https://$host:" + strconv.Itoa(s.HTTPSPort) + "$request_uri"
		}
		w.line("location / {")
		w.line("return 301 %s;", q(target))
		w.line("}")
	} else {
		body(w, id, s, false, ups)
	}
	w.line("}")
	if tls {
		cert, key := s.CertPaths()
		w.line("")
		w.line("server {")
		for _, a := range s.Listen {
			w.line("listen %s ssl http2;", listenAddr(a, s.HTTPSPort))
		}
		serverCommon(w, id, s, false)
		w.line("ssl_certificate %s;", q(cert))
		w.line("ssl_certificate_key %s;", q(key))
		w.line("ssl_protocols TLSv1.2 TLSv1.3;")
		w.line("ssl_prefer_server_ciphers off;")
		w.line("ssl_session_timeout 1d;")
		w.line("ssl_session_tickets off;")
		body(w, id, s, true, ups)
		w.line("}")
	}
	return w.b.String(), nil
}

func listenAddr(a string, port int) string {
	switch a {
	case "*":
		return "*:" + strconv.Itoa(port)
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), strconv.Itoa(port))
}

// serverCommon renders what every server block of the site starts with:
// names, the allowlist and the rate limit.
func serverCommon(w *writer, id string, s *spec.Site, http bool) {
	w.line("server_name %s;", strings.Join(s.ServerNames, " "))
	w.line("server_tokens off;")
	if len(s.Allow) > 0 {
		for _, a := range s.Allow {
			w.line("allow %s;", a)
		}
		w.line("deny all;")
		if http {
			// ACME challenges are answered to everyone: the certificate
			// authority validates from addresses it does not publish.
			w.line("set $%s_deny $%s_denied;", id, id)
			w.line(`if ($uri ~ "^/\.well-known/acme-challenge/") {`)
			w.line("set $%s_deny 0;", id)
			w.line("}")
			w.line("if ($%s_deny) {", id)
		} else {
			w.line("if ($%s_denied) {", id)
		}
		w.line("return 403;")
		w.line("}")
	}
	if s.RateLimit != "" {
		if s.RateBurst > 0 {
			w.line("limit_req zone=%s_rate burst=%d nodelay;", id, s.RateBurst)
		} else {
			w.line("limit_req zone=%s_rate;", id)
		}
		w.line("limit_req_status 429;")
	}
}

// body renders what a site serves: headers, limits, error pages,
// rewrites, redirects and its locations.
func body(w *writer, id string, s *spec.Site, https bool, ups map[int]upstreamList) {
	headers := map[string]string{}
	for k, v := range DefaultHeaders {
		if k != "Strict-Transport-Security" || https {
			headers[k] = v
		}
	}
	for k, v := range s.Headers {
		for d := range headers {
			if strings.EqualFold(d, k) {
				delete(headers, d)
			}
		}
		if v != "" {
			headers[k] = v
		}
	}
	for _, k := range slices.Sorted(mapsKeys(headers)) {
		w.line("add_header %s %s always;", k, q(headers[k]))
	}
	w.line("client_max_body_size %s;", s.BodySize)
	codes := slices.Sorted(mapsKeys(s.ErrorPages))
	for _, c := range codes {
		w.line("error_page %s %s;", c, q(s.ErrorPages[c]))
	}
	for _, r := range s.Rewrites {
		if r.Flag != "" {
			w.line("rewrite %s %s %s;", q(r.Match), q(r.To), r.Flag)
		} else {
			w.line("rewrite %s %s;", q(r.Match), q(r.To))
		}
	}
	for _, r := range s.Redirects {
		w.line("location = %s {", q(r.From))
		w.line("return %d %s;", r.Code, q(r.To))
		w.line("}")
	}
	if s.ErrorRoot != "" {
		uris := map[string]bool{}
		for _, c := range codes {
			uris[s.ErrorPages[c]] = true
		}
		for _, u := range slices.Sorted(mapsKeys(uris)) {
			w.line("location = %s {", q(u))
			w.line("root %s;", q(s.ErrorRoot))
			w.line("internal;")
			w.line("}")
		}
	}
	intercept := len(s.ErrorPages) > 0
	if len(s.Upstreams) > 0 || s.Root != "" {
		location(w, id, s, "/", s.Root, ups[0], s.Proxy, "", 0, intercept)
	}
	for i, l := range s.Locations {
		if l.Return != "" {
			code, rest, _ := spec.ParseReturn(l.Return)
			w.line("location %s {", locPath(l.Path))
			if rest != "" {
				w.line("return %d %s;", code, q(rest))
			} else {
				w.line("return %d;", code)
			}
			w.line("}")
			continue
		}
		p := l.Proxy
		or(&p.Timeout, s.Proxy.Timeout)
		or(&p.ConnectTimeout, s.Proxy.ConnectTimeout)
		if p.Buffering == nil {
			p.Buffering = s.Proxy.Buffering
		}
		if p.Websockets == nil {
			p.Websockets = s.Proxy.Websockets
		}
		location(w, id, s, l.Path, l.Root, ups[i+1], p, l.BodySize, i+1, intercept)
	}
}

func or(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// locPath renders a location's path: its modifier as is, the rest quoted.
func locPath(p string) string {
	for _, m := range []string{"= ", "^~ ", "~* ", "~ "} {
		if strings.HasPrefix(p, m) {
			return m + q(strings.TrimPrefix(p, m))
		}
	}
	return q(p)
}

// location renders one location: files from root, proxying to u, or
// files with u as their fallback (a named location, cached).
func location(w *writer, id string, s *spec.Site, path, root string, u upstreamList, p spec.SiteProxy, bodySize string, i int, intercept bool) {
	origin := fmt.Sprintf("@%s_origin%d", id, i)
	w.line("location %s {", locPath(path))
	if bodySize != "" {
		w.line("client_max_body_size %s;", bodySize)
	}
	switch {
	case root != "" && u.name != "":
		w.line("root %s;", q(root))
		w.line("try_files $uri %s;", origin)
		w.line("}")
		w.line("location %s {", origin)
		proxy(w, id, u, p, intercept)
		w.line("proxy_cache %s_cache;", id)
		w.line("proxy_cache_valid 200 301 302 %s;", s.Cache.Valid)
		w.line("proxy_cache_valid 404 1m;")
		w.line("proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;")
		w.line("proxy_cache_lock on;")
	case root != "":
		w.line("root %s;", q(root))
		w.line("try_files $uri $uri/ =404;")
	default:
		proxy(w, id, u, p, intercept)
	}
	w.line("}")
}

func proxy(w *writer, id string, u upstreamList, p spec.SiteProxy, intercept bool) {
	w.line("proxy_pass http://%s;", u.name)
	w.line("proxy_http_version 1.1;")
	w.line("proxy_set_header Host $host;")
	// The client's own address: never what the client claims in its
	// own X-Forwarded-For.
	w.line("proxy_set_header X-Real-IP $remote_addr;")
	w.line("proxy_set_header X-Forwarded-For $remote_addr;")
	w.line("proxy_set_header X-Forwarded-Proto $scheme;")
	w.line("proxy_set_header X-Forwarded-Host $host;")
	if p.Websockets != nil && *p.Websockets {
		w.line("proxy_set_header Upgrade $http_upgrade;")
		w.line("proxy_set_header Connection $%s_connection;", id)
	} else {
		w.line(`proxy_set_header Connection "";`)
	}
	w.line("proxy_connect_timeout %s;", p.ConnectTimeout)
	w.line("proxy_read_timeout %s;", p.Timeout)
	w.line("proxy_send_timeout %s;", p.Timeout)
	if p.Buffering != nil && !*p.Buffering {
		w.line("proxy_buffering off;")
		w.line("proxy_request_buffering off;")
	} else {
		w.line("proxy_buffering on;")
	}
	if intercept {
		w.line("proxy_intercept_errors on;")
	}
}
