package site

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func no() *bool  { b := false; return &b }
func yes() *bool { b := true; return &b }

// full is a site using every feature.
func full() *spec.Site {
	return &spec.Site{
		ServerNames: []string{"shop.example.org", "www.shop.example.org"},
		Listen:      []string{"*", "::"},
		TLS:         spec.SiteTLS{Certificate: "shop"},
		Upstreams:   []string{"role:app:8080", "10.0.0.9:8080"},
		Proxy:       spec.SiteProxy{Websockets: yes()},
		Allow:       []string{"192.0.2.0/24", "2001:db8::/32"},
		RateLimit:   "10r/s", RateBurst: 20,
		Headers:    map[string]string{"X-Frame-Options": "", "Content-Security-Policy": `default-src 'self'; img-src "x"`},
		ErrorPages: map[string]string{"404": "/404.html", "502": "/50x.html", "503": "/50x.html"},
		ErrorRoot:  "/srv/errors",
		Redirects:  []spec.SiteRedirect{{From: "/old", To: "https://example.org/new"}},
		Rewrites:   []spec.SiteRewrite{{Match: `^/item/(\d+)$`, To: "/items?id=$1", Flag: "last"}},
		Locations: []spec.SiteLocation{
			{Path: "/images/", Root: "/srv/replica", Upstreams: []string{"host:origin:80"}},
			{Path: "/api/", Upstreams: []string{"[2001:db8::5]:9000"}, Proxy: spec.SiteProxy{Buffering: no(), Timeout: "5m"}, BodySize: "50m"},
			{Path: "= /health", Return: "200 ok"},
			{Path: "~* \\.php$", Return: "404"},
		},
		Resolved: map[string][]string{"role:app:8080": {"192.0.2.11:8080", "[2001:db8::12]:8080"}, "host:origin:80": {"192.0.2.30:80"}},
	}
}

// TestRender compares the rendered configuration of a site using every
// feature with testdata/full.conf (go test -update rewrites it).
func TestRender(t *testing.T) {
	got, err := New("shop", full())
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/full.conf"
	if *update {
		if err := os.WriteFile(golden, []byte(got.Config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got.Config); diff != "" {
		t.Errorf("rendered configuration differs from %s (-want +got):\n%s", golden, diff)
	}
}

// TestAllowlistEverywhere: with an allowlist, every server block refuses
// other addresses before choosing a location (a server-level guard, which
// return and rewrite cannot skip), and no location but the ACME
// challenge's carries allow or deny of its own (one would replace the
// server's).
func TestAllowlistEverywhere(t *testing.T) {
	s, err := New("shop", full())
	if err != nil {
		t.Fatal(err)
	}
	servers := strings.Split(s.Config, "\nserver {")[1:]
	if len(servers) != 2 {
		t.Fatalf("%d server blocks, want 2", len(servers))
	}
	for _, srv := range servers {
		if !strings.Contains(srv, "    deny all;\n") || !regexp.MustCompile(`(?m)^    if \(\$tend_shop_den(y|ied)\) \{\n        return 403;`).MatchString(srv) {
			t.Errorf("server block without the allowlist guard:\n%s", srv)
		}
		for _, loc := range strings.Split(srv, "\n    location ")[1:] {
			if strings.Contains(loc, "allow ") || strings.Contains(loc, "deny ") {
				if !strings.HasPrefix(loc, "^~ /.well-known/acme-challenge/") {
					t.Errorf("location with its own allow or deny:\n%s", loc)
				}
			}
		}
	}
}

// TestRenderUnresolved: a host: upstream that Compile did not resolve is
// an error, never a broken file.
func TestRenderUnresolved(t *testing.T) {
	_, err := New("x", &spec.Site{ServerNames: []string{"x.org"}, Upstreams: []string{"host:app:80"}})
	if err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Fatalf("got %v", err)
	}
}
