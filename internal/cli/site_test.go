package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
)

// TestSiteFollowsRole: a site proxying to role:app:8080, applied with
// tend apply --lab, reaches the lab host that has the role (at its lab
// address, not the one the environment declares); moving the role to
// another host is one line, and the next apply proxies there.
func TestSiteFollowsRole(t *testing.T) {
	l := labtest.New(t, 3)
	e := newSecretEnv(t)
	e.forLab()
	write := func(name, content string) {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tend.yaml", "name: web\n")
	write("roles/edge/role.yaml", `resources:
  - package: nginx
  - site: shop
    server_names: [shop.test]
    upstreams: ["role:app:8080"]
`)
	write("roles/app/role.yaml", `resources:
  - directory: /srv/app
  - file: /srv/app/index.html
    content: "{{.host.name}}\n"
  - site: app
    server_names: [app.internal]
    http_port: 8080
    root: /srv/app
`)
	env := func(app string) string {
		out := "hosts:\n"
		for i, h := range []string{"host1", "host2", "host3"} {
			roles := "[]"
			if h == "host1" {
				roles = "[edge]"
			} else if h == app {
				roles = "[app]"
			}
			out += "  " + h + ": {address: 192.0.2." + string(rune('1'+i)) + ", roles: " + roles + "}\n"
		}
		return out
	}
	edge := l.Host(t, "host1").Addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, edge+":80")
		}}}
	for _, app := range []string{"host2", "host3"} {
		write("environments/production.yaml", env(app))
		if out, errOut, code := e.run("", "apply", "production", "--repo", e.repo, "--lab", l.State.Name); code != 0 {
			t.Fatalf("apply with the app on %s: exit %d\n%s\n%s", app, code, out, errOut)
		}
		resp, err := c.Get("http://shop.test/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != app {
			t.Errorf("with the app role on %s, the site answers %d %q", app, resp.StatusCode, b)
		}
	}
	// The app left host2: so did its site.
	if out, _ := l.Enter(t, "host2", "ls", "/etc/nginx/sites-enabled"); strings.Contains(out, "tend-app") {
		t.Errorf("host2 still has the app's site: %s", out)
	}
}
