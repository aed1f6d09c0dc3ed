package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/resource/cert/certtest"
)

// TestSiteWithACME: the two halves of the web edge together, through
// tend apply. A proxy host's site is served over HTTPS with a certificate
// that the host obtained from a real ACME server (Pebble, HTTP-01
// validated against the host) on the first apply, without a manual
// step; the client trusts only Pebble's root. The upstream, a site of the
// app role on another host, sees the client's real address and the
// scheme in the forwarded headers; plain HTTP answers 301 to HTTPS.
func TestSiteWithACME(t *testing.T) {
	l := labtest.New(t, 2)
	edge := l.Host(t, "host1").Addr
	pb := certtest.StartPebble(t, l.State.Gateway(), edge, certtest.Options{Validity: 60 * 24 * time.Hour})
	e := newSecretEnv(t)
	e.forLab()
	write := func(name, content string) {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var roots strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(pb.TLSRoot), "\n") {
		roots.WriteString("      " + line + "\n")
	}
	write("tend.yaml", "name: web\n")
	write("environments/production.yaml", "hosts:\n  host1: {address: 192.0.2.1, roles: [edge]}\n  host2: {address: 192.0.2.2, roles: [app]}\n")
	write("roles/edge/role.yaml", `resources:
  - absent: /etc/nginx/sites-enabled/default
  - certificate: shop
    names: [shop.tend.test]
    directory: `+pb.Directory+`
    email: ops@tend.test
    reload: [nginx]
    ca_roots: |
`+roots.String()+`  - site: shop
    server_names: [shop.tend.test]
    tls: {certificate: shop}
    upstreams: ["role:app:8080"]
`)
	write("roles/app/role.yaml", `resources:
  - site: app
    server_names: [app.internal]
    http_port: 8080
    locations:
      - path: /
        return: "200 for=$http_x_forwarded_for proto=$http_x_forwarded_proto real=$http_x_real_ip"
`)
	if out, errOut, code := e.run("", "apply", "production", "--repo", e.repo, "--lab", l.State.Name); code != 0 {
		t.Fatalf("first apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := e.run("", "plan", "production", "--repo", e.repo, "--lab", l.State.Name); code != 0 {
		t.Errorf("plan after apply: exit %d, want no change\n%s\n%s", code, out, errOut)
	}

	// HTTPS with Pebble's certificate, trusted through Pebble's root only.
	roots2 := pb.IssuingRoot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, served, err := certtest.Fetch(ctx, edge, "shop.tend.test", roots2)
	if err != nil {
		t.Fatalf("https://shop.tend.test/ through the edge: %v", err)
	}
	if served == nil || !strings.Contains(served.Issuer.CommonName, "Pebble") {
		t.Errorf("served certificate issued by %v, want Pebble", served.Issuer)
	}
	// The test's own address on the lab network is the gateway's.
	client := l.State.Gateway()
	if want := "for=" + client + " proto=https real=" + client; body != want {
		t.Errorf("the upstream saw %q, want %q", body, want)
	}

	// IPv6, from the app host to the edge (the lab bridge carries IPv6;
	// the test gives both hosts an address): the same site, and the
	// upstream sees the client's IPv6 address.
	v6edge, v6client := fmt.Sprintf("fd47:%x::10", l.State.Index), fmt.Sprintf("fd47:%x::11", l.State.Index)
	l.MustEnter(t, "host1", "ip", "addr", "add", v6edge+"/64", "dev", "host0", "nodad")
	l.MustEnter(t, "host2", "ip", "addr", "add", v6client+"/64", "dev", "host0", "nodad")
	l.MustEnter(t, "host2", "sh", "-c", "cat > /tmp/pebble-root.pem <<'EOF'\n"+pb.IssuingRootPEM()+"EOF")
	got := l.MustEnter(t, "host2", "curl", "-sS", "--max-time", "10", "--cacert", "/tmp/pebble-root.pem",
		"--resolve", "shop.tend.test:443:["+v6edge+"]", "https://shop.tend.test/")
	if want := "for=" + v6client + " proto=https real=" + v6client; strings.TrimSpace(got) != want {
		t.Errorf("over IPv6 the upstream saw %q, want %q", got, want)
	}

	// Plain HTTP: a redirect to HTTPS.
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots2},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, edge+":80")
			}}}
	resp, err := c.Get("http://shop.tend.test/x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://shop.tend.test/x" {
		t.Errorf("http://shop.tend.test/x: %d %q, want 301 to https", resp.StatusCode, resp.Header.Get("Location"))
	}
}
