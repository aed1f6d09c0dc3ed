package site_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	"tend/internal/wire"
)

// makeCert returns a self-signed certificate for names, its key (PEM),
// and a pool trusting it.
func makeCert(t *testing.T, names ...string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})), pool
}

// client reaches addr whatever host name a URL names, as a resolver
// pointing every name at the proxy host would, trusting pool.
func client(addr string, pool *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(hostport)
				return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort(addr, port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

type answer struct {
	status int
	body   string
	header http.Header
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// startOrigin makes host an origin: nginx on port 8080 answering /echo/
// with the forwarded headers it received, and serving /img/ from
// /srv/origin, logging each request to /var/log/nginx/origin.log.
func startOrigin(t *testing.T, l *labtest.Lab, host string) {
	t.Helper()
	l.Run(t, host, `mkdir -p /srv/origin/img && echo remote > /srv/origin/img/remote.txt && cat > /etc/nginx/conf.d/origin.conf <<'EOF'
log_format origin '$remote_addr $request_uri';
server {
    listen 8080;
    access_log /var/log/nginx/origin.log origin;
    location ~ ^/(echo|ws)/ {
        default_type text/plain;
        return 200 "xff=$http_x_forwarded_for proto=$http_x_forwarded_proto host=$http_x_forwarded_host real=$http_x_real_ip uri=$request_uri upgrade=$http_upgrade conn=$http_connection\n";
    }
    location /img/ {
        root /srv/origin;
    }
}
EOF
systemctl restart nginx`)
}

func originHits(t *testing.T, l *labtest.Lab, host, uri string) int {
	t.Helper()
	out := l.Run(t, host, "cat /var/log/nginx/origin.log 2>/dev/null || true")
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " "+uri) {
			n++
		}
	}
	return n
}

func apply(t *testing.T, l *labtest.Lab, host string, items ...wire.Item) {
	t.Helper()
	r := resourcetest.Run(t, l, host, wire.Apply, &wire.Desired{Host: host, Resources: items})
	if r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, resourcetest.Describe(r))
	}
}

func yes() *bool { b := true; return &b }

func site(name string, s spec.Site) wire.Item { return resourcetest.Item(spec.KindSite, name, s) }

func file(path, content, mode string) wire.Item {
	return resourcetest.Item(spec.KindFile, path, spec.File{Content: content, Mode: mode, Owner: "root", Group: "root"})
}

// TestProxy: a service on an app host, reached through the proxy host by
// name over HTTPS: plain HTTP answers 301 to HTTPS; the upstream sees the
// client's real address (not what the client claims) in X-Forwarded-For
// and X-Real-IP, and https in X-Forwarded-Proto; security headers are
// sent; over IPv6 too (the lab network has no IPv6, so the proxy host's
// own ::1). Static with fallback: a local file is served locally, a
// missing one fetched from the origin host once and then from the cache.
// Each state converges (the plan after apply is empty).
func TestProxy(t *testing.T) {
	l := labtest.New(t, 2)
	proxyAddr, appAddr := l.Host(t, "host1").Addr, l.Host(t, "host2").Addr
	startOrigin(t, l, "host2")
	cert, key, pool := makeCert(t, "shop.test")
	l.Run(t, "host1", "cat > /root/ca.pem <<'EOF'\n"+cert+"EOF")
	items := []wire.Item{
		file("/etc/ssl/shop.pem", cert, "0644"),
		file("/etc/ssl/shop.key", key, "0600"),
		resourcetest.Item(spec.KindDirectory, "/srv/replica", spec.Directory{Mode: "0755", Owner: "root", Group: "root"}),
		resourcetest.Item(spec.KindDirectory, "/srv/replica/img", spec.Directory{Mode: "0755", Owner: "root", Group: "root"}),
		file("/srv/replica/img/local.txt", "local\n", "0644"),
		site("shop", spec.Site{
			ServerNames: []string{"shop.test"},
			TLS:         spec.SiteTLS{CertFile: "/etc/ssl/shop.pem", KeyFile: "/etc/ssl/shop.key"},
			Upstreams:   []string{appAddr + ":8080"},
			Locations:   []spec.SiteLocation{{Path: "/img/", Root: "/srv/replica", Upstreams: []string{appAddr + ":8080"}}},
		}),
	}
	resourcetest.Converge(t, l, "host1", resourcetest.State{Name: "shop", Resources: items, Check: func(t *testing.T) {
		c := client(proxyAddr, pool)
		if a := get(t, c, "http://shop.test/echo/x?y=1"); a.status != 301 || a.header.Get("Location") != "https://shop.test/echo/x?y=1" {
			t.Errorf("http: %d %s, want 301 to https://shop.test/echo/x?y=1", a.status, a.header.Get("Location"))
		}
		gw := l.State.Gateway()
		a := get(t, c, "https://shop.test/echo/", "X-Forwarded-For", "203.0.113.66")
		if want := "xff=" + gw + " proto=https host=shop.test real=" + gw + " uri=/echo/ upgrade= conn=\n"; a.status != 200 || a.body != want {
			t.Errorf("https: %d %q, want 200 %q", a.status, a.body, want)
		}
		for k, v := range map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN"} {
			if a.header.Get(k) != v {
				t.Errorf("header %s: %q, want %q", k, a.header.Get(k), v)
			}
		}
		v6 := l.Run(t, "host1", "curl -sS --cacert /root/ca.pem --resolve 'shop.test:443:[::1]' https://shop.test/echo/")
		if want := "xff=::1 proto=https host=shop.test real=::1 uri=/echo/ upgrade= conn=\n"; v6 != want {
			t.Errorf("over IPv6: %q, want %q", v6, want)
		}

		if a := get(t, c, "https://shop.test/img/local.txt"); a.status != 200 || a.body != "local\n" {
			t.Errorf("local file: %d %q", a.status, a.body)
		}
		if n := originHits(t, l, "host2", "/img/local.txt"); n != 0 {
			t.Errorf("the origin saw %d requests for a local file", n)
		}
		for i := range 2 {
			if a := get(t, c, "https://shop.test/img/remote.txt"); a.status != 200 || a.body != "remote\n" {
				t.Errorf("missing file, request %d: %d %q", i+1, a.status, a.body)
			}
		}
		if t.Failed() {
			t.Log(l.Run(t, "host1", "tail -5 /var/log/nginx/error.log"))
		}
		if n := originHits(t, l, "host2", "/img/remote.txt"); n != 1 {
			t.Errorf("the origin saw %d requests for the missing file, want 1 (the second from the cache)", n)
		}
	}})
}

// TestAllowlist: two sites on one host; the allowlisted one answers an
// allowed address (the second host) 200 on every location (proxied,
// static with fallback, static, fixed answer), and another address (the
// machine) 403 on every one, on HTTP and HTTPS. The other site is not
// restricted. Removing a site (by omission, then state: absent) stops
// serving it, and leaves the other one serving.
func TestAllowlist(t *testing.T) {
	l := labtest.New(t, 2)
	proxyAddr, appAddr := l.Host(t, "host1").Addr, l.Host(t, "host2").Addr
	startOrigin(t, l, "host2") // also the allowed client
	cert, key, pool := makeCert(t, "admin.test")
	l.Run(t, "host2", "cat > /root/ca.pem <<'EOF'\n"+cert+"EOF")
	l.Run(t, "host1", "mkdir -p /srv/static /srv/replica/img && echo static > /srv/static/s.txt && echo here > /srv/replica/img/here.txt")
	admin := site("admin", spec.Site{
		ServerNames: []string{"admin.test"},
		TLS:         spec.SiteTLS{CertFile: "/etc/ssl/admin.pem", KeyFile: "/etc/ssl/admin.key"},
		Upstreams:   []string{appAddr + ":8080"},
		Allow:       []string{appAddr + "/32"},
		Locations: []spec.SiteLocation{
			{Path: "/img/", Root: "/srv/replica", Upstreams: []string{appAddr + ":8080"}},
			{Path: "^~ /s.txt", Root: "/srv/static"},
			{Path: "= /ping", Return: "200 pong"},
		},
		Redirects: []spec.SiteRedirect{{From: "/old", To: "https://admin.test/ping", Code: 302}},
	})
	open := site("open", spec.Site{ServerNames: []string{"open.test"}, Root: "/srv/static"})
	certs := []wire.Item{file("/etc/ssl/admin.pem", cert, "0644"), file("/etc/ssl/admin.key", key, "0600")}
	apply(t, l, "host1", append(certs, admin, open)...)

	paths := map[string]int{"/echo/": 200, "/img/here.txt": 200, "/img/remote.txt": 200, "/s.txt": 200, "/ping": 200, "/old": 302}
	c := client(proxyAddr, pool)
	for p, code := range paths {
		curl := "curl -sS -o /dev/null -w '%{http_code}' --cacert /root/ca.pem --resolve admin.test:443:" + proxyAddr + " https://admin.test" + p
		if got := l.Run(t, "host2", curl); got != strconv.Itoa(code) {
			t.Errorf("allowed address, %s: %s, want %d", p, got, code)
		}
		if a := get(t, c, "https://admin.test"+p); a.status != 403 {
			t.Errorf("other address, https %s: %d, want 403", p, a.status)
		}
		if a := get(t, c, "http://admin.test"+p); a.status != 403 {
			t.Errorf("other address, http %s: %d, want 403", p, a.status)
		}
	}
	if a := get(t, c, "http://open.test/s.txt"); a.status != 200 || a.body != "static\n" {
		t.Errorf("the other site: %d %q", a.status, a.body)
	}

	// admin leaves the spec: its file goes, nginx stops serving it.
	apply(t, l, "host1", append(certs, open)...)
	if out := l.Run(t, "host1", "ls /etc/nginx/sites-enabled/"); strings.Contains(out, "tend-admin") || !strings.Contains(out, "tend-open.conf") {
		t.Errorf("sites-enabled after removal: %s", out)
	}
	if a := get(t, c, "http://admin.test/ping"); a.status != 404 {
		t.Errorf("removed site: %d %q, want the default site's 404", a.status, a.body)
	}
	if a := get(t, c, "http://open.test/s.txt"); a.status != 200 {
		t.Errorf("the other site after the removal: %d", a.status)
	}
	// state: absent removes open, and the default site stays.
	gone := wire.Item{ID: "site:open", Kind: string(spec.KindSite), Name: "open", State: wire.Absent}
	apply(t, l, "host1", append(certs, gone)...)
	if a := get(t, c, "http://open.test/s.txt"); a.status != 404 {
		t.Errorf("site with state: absent: %d %q, want the default site's 404", a.status, a.body)
	}
	if out := l.Run(t, "host1", "ls /etc/nginx/sites-enabled/"); strings.Contains(out, "tend-open") || !strings.Contains(out, "default") {
		t.Errorf("sites-enabled after state: absent: %s", out)
	}
}

// TestReloadThatDoesNotTake: a change that passes nginx -t but that nginx
// cannot load (its port is taken by another process) never replaces the
// live configuration: apply fails with nginx's message, the site keeps
// serving the old configuration (and the old file is back), and once the
// port is free the next apply converges. A change nginx -t refuses fails
// the same way. A stopped nginx shows in the plan, and apply starts it.
func TestReloadThatDoesNotTake(t *testing.T) {
	l := labtest.New(t, 1)
	addr := l.Host(t, "host1").Addr
	l.Run(t, "host1", "mkdir -p /srv/www && echo v1 > /srv/www/index.html")
	old := site("www", spec.Site{ServerNames: []string{"www.test"}, Root: "/srv/www", HTTPPort: 8081})
	apply(t, l, "host1", old)
	c := client(addr, nil)
	if a := get(t, c, "http://www.test:8081/"); a.status != 200 || a.body != "v1\n" {
		t.Fatalf("before: %d %q", a.status, a.body)
	}
	before := l.Run(t, "host1", "cat /etc/nginx/sites-enabled/tend-www.conf")

	// Another process holds port 8082.
	l.Run(t, "host1", "systemd-run --unit=squatter python3 -m http.server --bind 0.0.0.0 8082 && for i in $(seq 50); do ss -ltn | grep -q ':8082 ' && break; sleep 0.1; done")
	moved := site("www", spec.Site{ServerNames: []string{"www.test"}, Root: "/srv/www", HTTPPort: 8082})
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Host: "host1", Resources: []wire.Item{moved}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "Address already in use") || !strings.Contains(r.Err.Error(), "did not take") {
		t.Fatalf("apply with the port taken: %v, want nginx's bind error", r.Err)
	}
	t.Logf("apply with the port taken: %v", r.Err)
	if a := get(t, c, "http://www.test:8081/"); a.status != 200 || a.body != "v1\n" {
		t.Errorf("after the failed reload, the old configuration: %d %q", a.status, a.body)
	}
	if now := l.Run(t, "host1", "cat /etc/nginx/sites-enabled/tend-www.conf"); now != before {
		t.Errorf("the previous file was not put back:\n%s", now)
	}
	p := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Host: "host1", Resources: []wire.Item{old}})
	if p.Err != nil || p.Changed != 0 {
		t.Errorf("plan of the old state after the failure: %d changes, %v: nginx should run the old files\n%s", p.Changed, p.Err, resourcetest.Describe(p))
	}

	// nginx -t refuses an upstream that does not resolve.
	bad := site("www", spec.Site{ServerNames: []string{"www.test"}, Upstreams: []string{"nosuch.invalid:80"}, HTTPPort: 8081})
	r = resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{Host: "host1", Resources: []wire.Item{bad}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "nginx -t") || !strings.Contains(r.Err.Error(), "host not found") {
		t.Fatalf("apply of a configuration nginx -t refuses: %v", r.Err)
	}
	t.Logf("apply nginx -t refuses: %v", r.Err)
	if a := get(t, c, "http://www.test:8081/"); a.status != 200 || a.body != "v1\n" {
		t.Errorf("after nginx -t refused: %d %q", a.status, a.body)
	}

	// The port is free again: the change converges.
	l.Run(t, "host1", "systemctl stop squatter")
	resourcetest.Converge(t, l, "host1", resourcetest.State{Name: "moved", Resources: []wire.Item{moved}, Check: func(t *testing.T) {
		if a := get(t, c, "http://www.test:8082/"); a.status != 200 || a.body != "v1\n" {
			t.Errorf("on the new port: %d %q", a.status, a.body)
		}
	}})

	// nginx stopped: the plan says the site is not served, apply starts it.
	l.Run(t, "host1", "systemctl stop nginx")
	d := &wire.Desired{Host: "host1", Resources: []wire.Item{moved}}
	if p := resourcetest.Run(t, l, "host1", wire.Plan, d); p.Err != nil || p.Changed != 1 {
		t.Errorf("plan with nginx stopped: %d changes, %v; want 1", p.Changed, p.Err)
	}
	apply(t, l, "host1", moved)
	if a := get(t, c, "http://www.test:8082/"); a.status != 200 || a.body != "v1\n" {
		t.Errorf("after apply started nginx: %d %q", a.status, a.body)
	}
}

// TestFeatures: what else a site renders works in real nginx: rate
// limits answer 429 past the burst, error pages come from error_root,
// rewrites reach the upstream rewritten, websockets pass Upgrade (and
// only where asked), regex locations and fixed answers, headers dropped
// and added (quotes kept), and the plan shows the file as a diff.
func TestFeatures(t *testing.T) {
	l := labtest.New(t, 2)
	proxyAddr, appAddr := l.Host(t, "host1").Addr, l.Host(t, "host2").Addr
	startOrigin(t, l, "host2")
	up := []string{appAddr + ":8080"}
	l.Run(t, "host1", "mkdir -p /srv/errors /srv/www && echo oops > /srv/errors/oops.html && echo hi > /srv/www/index.html")
	items := []wire.Item{
		site("app", spec.Site{
			ServerNames: []string{"app.test"},
			Upstreams:   up,
			Headers:     map[string]string{"X-Frame-Options": "", "X-Test": `a "quoted" value`},
			Rewrites:    []spec.SiteRewrite{{Match: `^/item/(\d+)$`, To: "/echo/item-$1", Flag: "last"}},
			Locations: []spec.SiteLocation{
				{Path: "/ws/", Upstreams: up, Proxy: spec.SiteProxy{Websockets: yes()}},
				{Path: "~* \\.php$", Return: "404"},
				{Path: "= /health", Return: "200 ok"},
			},
		}),
		site("limited", spec.Site{
			ServerNames: []string{"limited.test"},
			Root:        "/srv/www", RateLimit: "1r/m", RateBurst: 2,
			ErrorPages: map[string]string{"404": "/oops.html"}, ErrorRoot: "/srv/errors",
		}),
	}
	p := resourcetest.Run(t, l, "host1", wire.Plan, &wire.Desired{Host: "host1", Resources: items})
	var diff string
	for _, e := range p.Events {
		if e.ID == "site:limited" && e.Change != nil {
			diff = e.Change.Diff
		}
	}
	if !strings.Contains(diff, "+++ /etc/nginx/sites-enabled/tend-limited.conf") || !strings.Contains(diff, "+    server_name limited.test;") {
		t.Errorf("plan of a new site: no diff of its file:\n%s", diff)
	}
	apply(t, l, "host1", items...)
	c := client(proxyAddr, nil)

	a := get(t, c, "http://app.test/item/42")
	if a.status != 200 || !strings.Contains(a.body, " uri=/echo/item-42 ") {
		t.Errorf("rewrite: %d %q", a.status, a.body)
	}
	if a.header.Get("X-Frame-Options") != "" || a.header.Get("X-Test") != `a "quoted" value` || a.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", a.header)
	}
	if a := get(t, c, "http://app.test/ws/x", "Upgrade", "websocket", "Connection", "Upgrade"); !strings.Contains(a.body, " upgrade=websocket conn=upgrade\n") {
		t.Errorf("websockets: %d %q", a.status, a.body)
	}
	if a := get(t, c, "http://app.test/echo/", "Upgrade", "websocket", "Connection", "Upgrade"); !strings.HasSuffix(a.body, " upgrade= conn=\n") {
		t.Errorf("no websockets: %d %q", a.status, a.body)
	}
	if a := get(t, c, "http://app.test/x.PHP"); a.status != 404 {
		t.Errorf("regex location: %d", a.status)
	}
	if a := get(t, c, "http://app.test/health"); a.status != 200 || a.body != "ok" {
		t.Errorf("return: %d %q", a.status, a.body)
	}

	if a := get(t, c, "http://limited.test/nothing-here"); a.status != 404 || a.body != "oops\n" {
		t.Errorf("error page: %d %q", a.status, a.body)
	}
	// 1r/m with a burst of 2: the first, then 2 more, then 429 (the error
	// page took the first).
	var codes []int
	for range 3 {
		codes = append(codes, get(t, c, "http://limited.test/").status)
	}
	if !slices.Equal(codes, []int{200, 200, 429}) {
		t.Errorf("rate limit: %v, want 200 200 429", codes)
	}
}
