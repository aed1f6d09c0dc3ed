package cert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"tend/internal/resource"
)

// Webroot is where HTTP-01 challenges are answered from: a request for
// http://NAME/.well-known/acme-challenge/TOKEN is served from
// Webroot/.well-known/acme-challenge/TOKEN.
const Webroot = "/var/lib/tend/acme"

// Snippet is the nginx server that answers challenges for every name no
// other server block claims on port 80.
const Snippet = "/etc/nginx/conf.d/tend-acme.conf"

// SnippetText is Snippet's content.
const SnippetText = `# Managed by tend (certificate resources): answers ACME HTTP-01 challenges
# from ` + Webroot + ` for names no other server block claims on port 80.
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    location /.well-known/acme-challenge/ {
        root ` + Webroot + `;
    }
    location / {
        return 404;
    }
}
`

const nginxBin = "/usr/sbin/nginx"

// nginxConfigs are the files whose port-80 default_server would clash
// with the snippet's.
var nginxConfigs = []string{"/etc/nginx/nginx.conf", "/etc/nginx/conf.d/*.conf", "/etc/nginx/sites-enabled/*"}

var defaultServerRE = regexp.MustCompile(`(?m)^\s*listen\s+([^\s;]*:)?80(\s[^;]*)?\sdefault_server\b`)

// otherDefault returns a configuration file other than the snippet that
// declares a default_server on port 80, or "".
func otherDefault() string {
	for _, g := range nginxConfigs {
		files, _ := filepath.Glob(g)
		for _, f := range files {
			if f == Snippet {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var b strings.Builder
			for _, line := range strings.Split(string(data), "\n") {
				line, _, _ = strings.Cut(line, "#")
				b.WriteString(line + "\n")
			}
			if defaultServerRE.MatchString(b.String()) {
				return f
			}
		}
	}
	return ""
}

// snippetWanted reports whether the snippet belongs on the host, and if
// not, why not.
func snippetWanted() (bool, string) {
	if f := otherDefault(); f != "" {
		return false, f + " has the port-80 default_server"
	}
	return true, ""
}

func haveNginx() error {
	if _, err := os.Stat(nginxBin); err != nil {
		return fmt.Errorf("http-01 challenges are answered by nginx, which is not installed (%s): declare `package: nginx` before the certificate", nginxBin)
	}
	return nil
}

func active(ctx context.Context, unit string) bool {
	out, _ := exec.CommandContext(ctx, "systemctl", "is-active", unit).Output()
	return string(bytes.TrimSpace(out)) == "active"
}

// nginxTest runs nginx -t; the error is nginx's own message.
func nginxTest(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, nginxBin, "-t", "-q").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t: %s", strings.TrimSpace(string(out)))
	}
	return nil
}

// ensureNginx puts the snippet in place (or takes it out when another
// default_server took port 80), checked by nginx -t (a failing one is put
// back), and makes nginx serve: started when stopped, reloaded when the
// snippet changed.
func ensureNginx(ctx context.Context) error {
	if err := haveNginx(); err != nil {
		return err
	}
	want, _ := snippetWanted()
	old, err := os.ReadFile(Snippet)
	had := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	changed := false
	switch {
	case want && string(old) != SnippetText:
		if err := os.MkdirAll(filepath.Dir(Snippet), 0o755); err != nil {
			return err
		}
		if err := resource.WriteFile(Snippet, []byte(SnippetText), chainMeta); err != nil {
			return err
		}
		changed = true
	case !want && had:
		if err := os.Remove(Snippet); err != nil {
			return err
		}
		changed = true
	}
	if err := nginxTest(ctx); err != nil {
		if changed {
			if had {
				_ = resource.WriteFile(Snippet, old, chainMeta)
			} else {
				os.Remove(Snippet)
			}
		}
		return fmt.Errorf("nginx refuses its configuration with %s: %w", Snippet, err)
	}
	if !active(ctx, "nginx") {
		_, err := resource.Command(ctx, "systemctl", "start", "nginx")
		return err
	}
	if changed {
		_, err := resource.Command(ctx, "systemctl", "reload", "nginx")
		return err
	}
	return nil
}

// probe checks, before the CA is asked, that nginx on this host serves
// the webroot for every name: a file put under the challenge path must
// come back from http://127.0.0.1/ with each name as Host. An nginx that
// does not listen on 127.0.0.1:80 cannot be probed, and is not.
func probe(ctx context.Context, names []string) error {
	b := make([]byte, 12)
	rand.Read(b)
	token := "tend-probe-" + hex.EncodeToString(b)
	dir := filepath.Join(Webroot, ".well-known", "acme-challenge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, token)
	if err := os.WriteFile(path, []byte(token), 0o644); err != nil {
		return err
	}
	defer os.Remove(path)
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, n := range names {
		var last string
		// nginx takes a reload in its own time: ask for a few seconds.
		for i := 0; ; i++ {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1/.well-known/acme-challenge/"+token, nil)
			req.Host = n
			resp, err := client.Do(req)
			if err != nil {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					return nil // nothing on 127.0.0.1:80: the CA will tell
				}
				last = err.Error()
			} else {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
				resp.Body.Close()
				if resp.StatusCode == 200 && string(body) == token {
					break
				}
				last = resp.Status
			}
			if i == 20 {
				return fmt.Errorf("nginx does not serve http://%s/.well-known/acme-challenge/ from %s (a test file answered %s): the server block for %s on port 80 needs `location ^~ /.well-known/acme-challenge/ { root %s; }` (a site has it), or no server may claim the name so that %s answers", n, Webroot, last, n, Webroot, Snippet)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

// reload reloads the running services of the list; nginx after nginx -t,
// and then until it serves another certificate than old (hex serial) for
// name on 127.0.0.1:443, when it serves one there: nginx answers a reload
// that did not take with success.
func reload(ctx context.Context, services []string, name, old string) error {
	for _, svc := range services {
		if !active(ctx, svc) {
			continue
		}
		if svc == "nginx" {
			if err := nginxTest(ctx); err != nil {
				return fmt.Errorf("reload nginx: %w", err)
			}
		}
		if _, err := resource.Command(ctx, "systemctl", "reload", svc); err != nil {
			return err
		}
		if svc == "nginx" && old != "" {
			if err := servesNew(ctx, name, old); err != nil {
				return err
			}
		}
	}
	return nil
}

func servesNew(ctx context.Context, name, old string) error {
	for i := 0; ; i++ {
		d := &tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: true}, NetDialer: &net.Dialer{Timeout: 3 * time.Second}}
		conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:443")
		if err != nil {
			return nil // not served here over TLS: nothing to confirm
		}
		certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
		conn.Close()
		if len(certs) > 0 && certs[0].SerialNumber.Text(16) != old {
			return nil
		}
		if i == 40 {
			return fmt.Errorf("nginx still serves the old certificate for %s after its reload: see /var/log/nginx/error.log", name)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
