package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"tend/internal/lab/labtest"
	"tend/internal/resource/cert/certtest"
	"tend/internal/spec"
)

// certLab is one lab host serving two test sites with nginx, their
// certificates issued by a real Pebble on the lab's gateway, driven
// through tend's CLI.
type certLab struct {
	*secretEnv
	l      *labtest.Lab
	pebble *certtest.Pebble
	addr   string
	lab    []string
	roots  *x509.CertPool // Pebble's issuing root, read once it runs
}

func (p *certLab) write(name, content string) {
	p.t.Helper()
	os.MkdirAll(p.repo+"/"+name[:strings.LastIndex(name, "/")+1], 0o755)
	if err := os.WriteFile(p.repo+"/"+name, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *certLab) tend(args ...string) string {
	p.t.Helper()
	return p.ok("", append(args, p.lab...)...)
}

func (p *certLab) tendFails(want int, args []string, fragments ...string) string {
	p.t.Helper()
	return p.fails(want, "", append(args, p.lab...), fragments...)
}

// role writes the web role: the Debian default site gone (so that tend's
// acme server answers port 80), the certificates given, and an nginx
// server block per certificate (a file resource: what a site renders)
// answering "site NAME" over HTTPS with its certificate.
func (p *certLab) role(renewBefore map[string]string, certs ...string) {
	var b strings.Builder
	b.WriteString("resources:\n  - absent: /etc/nginx/sites-enabled/default\n    notify: [reload-nginx]\n")
	names := map[string]string{"a": "a.tend.test, www.a.tend.test", "b": "b.tend.test"}
	var servers strings.Builder
	for _, c := range certs {
		fmt.Fprintf(&b, "  - certificate: %s\n    names: [%s]\n    directory: %s\n    email: ops@tend.test\n    reload: [nginx, postfix, dovecot]\n    ca_roots: |\n", c, names[c], p.pebble.Directory)
		for _, line := range strings.Split(strings.TrimSpace(p.pebble.TLSRoot), "\n") {
			b.WriteString("      " + line + "\n")
		}
		if rb := renewBefore[c]; rb != "" {
			fmt.Fprintf(&b, "    renew_before: %s\n", rb)
		}
		fmt.Fprintf(&servers, "      server {\n        listen 443 ssl;\n        server_name %s;\n        ssl_certificate /etc/tend/certs/%s/fullchain.pem;\n        ssl_certificate_key /etc/tend/certs/%s/privkey.pem;\n        location / { return 200 \"site %s\\n\"; }\n      }\n",
			strings.ReplaceAll(names[c], ",", ""), c, c, c)
	}
	if len(certs) > 0 {
		b.WriteString("  - file: /etc/nginx/conf.d/test-sites.conf\n    notify: [reload-nginx]\n    content: |\n" + servers.String())
	}
	b.WriteString("handlers:\n  reload-nginx: {service: nginx, action: reload}\n")
	p.write("roles/web/role.yaml", b.String())
}

// get fetches https://name/ from the host, trusting only Pebble's
// issuing root.
func (p *certLab) get(name string) (string, *x509.Certificate) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The test's server blocks go live with a plain nginx reload (a
	// handler), which returns before the new workers answer: ask again
	// for a few seconds.
	for i := 0; ; i++ {
		body, served, err := certtest.Fetch(ctx, p.addr, name, p.roots)
		if err == nil {
			return body, served
		}
		if i == 20 {
			p.t.Fatalf("https://%s/ on %s: %v", name, p.addr, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *certLab) hostCert(name string) *x509.Certificate {
	p.t.Helper()
	b, _ := pem.Decode([]byte(p.l.MustEnter(p.t, "host1", "cat", "/etc/tend/certs/"+name+"/fullchain.pem")))
	if b == nil {
		p.t.Fatalf("certificate %s: no PEM", name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

func (p *certLab) exists(path string) bool {
	_, err := p.l.Enter(p.t, "host1", "test", "-e", path)
	return err == nil
}

// TestCertificates: a first apply while the CA is down leaves a
// placeholder nginx accepts; then Pebble issues two distinct
// certificates over real HTTP-01 validation, which nginx serves and a
// client trusting Pebble's root accepts; the host's timer renews one
// without tend; a failing renewal makes status fail; certificates that
// leave the spec take their timers and acme server with them.
func TestCertificates(t *testing.T) {
	l := labtest.New(t, 1)
	h := l.Host(t, "host1")
	// Certificates live 60 days: not within the 14 days status warns
	// of, nor the default renew_before of 30 days.
	pb := certtest.StartPebble(t, l.State.Gateway(), h.Addr, certtest.Options{Validity: 60 * 24 * time.Hour, Defer: true})
	p := &certLab{secretEnv: newSecretEnv(t), l: l, pebble: pb, addr: h.Addr}
	p.forLab()
	p.lab = []string{"--repo", p.repo, "--lab", l.State.Name}
	p.write("tend.yaml", "name: web\n")
	p.write("environments/production.yaml", "hosts:\n  host1: {address: 192.0.2.1, roles: [web]}\n")
	p.role(nil, "a", "b")

	// The plan says what the first apply does, without asking the CA.
	out, _, code := p.run("", append([]string{"plan", "production"}, p.lab...)...)
	t.Logf("first plan:\n%s", out)
	if code != ExitChanges {
		t.Errorf("first plan: exit %d, want %d", code, ExitChanges)
	}
	for _, want := range []string{"certificate:a", "placeholder", "self-signed for a.tend.test www.a.tend.test", "issued by " + strings.TrimPrefix(strings.TrimSuffix(pb.Directory, "/dir"), "https://")} {
		if !strings.Contains(out, want) {
			t.Errorf("first plan lacks %q", want)
		}
	}

	// The CA does not answer yet: apply fails, but the placeholder is in
	// place, for the names, and nginx accepts a configuration using it.
	p.tendFails(1, []string{"apply", "production"}, "certificate:a", "acme")
	ph := p.hostCert("a")
	if len(ph.Subject.Organization) != 1 || ph.Subject.Organization[0] != "tend placeholder" || strings.Join(ph.DNSNames, " ") != "a.tend.test www.a.tend.test" {
		t.Errorf("placeholder: subject %v, names %v", ph.Subject, ph.DNSNames)
	}
	if mode := strings.TrimSpace(p.l.MustEnter(t, "host1", "stat", "-c", "%a", "/etc/tend/certs/a/privkey.pem")); mode != "600" {
		t.Errorf("privkey.pem mode %s, want 600", mode)
	}
	p.l.MustEnter(t, "host1", "sh", "-c", `mkdir -p /tmp/ngt/logs && cat > /tmp/ngt/nginx.conf <<'EOF'
events {}
http { server { listen 127.0.0.1:8443 ssl; ssl_certificate /etc/tend/certs/a/fullchain.pem; ssl_certificate_key /etc/tend/certs/a/privkey.pem; } }
EOF
nginx -t -q -p /tmp/ngt -c /tmp/ngt/nginx.conf`)
	if !p.exists("/etc/nginx/conf.d/tend-acme.conf") {
		t.Errorf("no acme server in nginx after the first apply")
	}
	p.tendFails(1, []string{"status", "production"}, "certificate a", "placeholder")

	// The CA answers: two certificates, each for exactly its names,
	// validated over HTTP-01 by Pebble against the host.
	pb.Start()
	p.roots = pb.IssuingRoot()
	p.tend("apply", "production")
	if out, _, code := p.run("", append([]string{"plan", "production"}, p.lab...)...); code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (no change):\n%s", code, out)
	}
	bodyA, certA := p.get("a.tend.test")
	bodyW, certW := p.get("www.a.tend.test")
	bodyB, certB := p.get("b.tend.test")
	if bodyA != "site a\n" || bodyW != "site a\n" || bodyB != "site b\n" {
		t.Errorf("bodies %q %q %q", bodyA, bodyW, bodyB)
	}
	if certA.SerialNumber.Cmp(certW.SerialNumber) != 0 || certA.SerialNumber.Cmp(certB.SerialNumber) == 0 {
		t.Errorf("serials: a %x, www.a %x, b %x: want a's two names on one certificate, b on another", certA.SerialNumber, certW.SerialNumber, certB.SerialNumber)
	}
	if !spec.SameNames(certA.DNSNames, []string{"a.tend.test", "www.a.tend.test"}) || !spec.SameNames(certB.DNSNames, []string{"b.tend.test"}) {
		t.Errorf("names: a %v, b %v", certA.DNSNames, certB.DNSNames)
	}
	if err := certB.VerifyHostname("a.tend.test"); err == nil {
		t.Errorf("b's certificate is valid for a.tend.test")
	}
	out = p.tend("status", "production")
	t.Logf("tend status:\n%s", out)
	for _, want := range []string{"certificate", "a.tend.test www.a.tend.test", "b.tend.test", "issuer Pebble", "cert-a"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(p.l.MustEnter(t, "host1", "cat", "/etc/systemd/system/tend-cert-a.timer"), "RandomizedDelaySec=") {
		t.Errorf("the renewal timer has no random delay")
	}

	// b leaves the spec: its timer and configuration go, its key stays
	// (a server may still name it), the acme server stays for a.
	p.role(nil, "a")
	p.tend("apply", "production")
	if p.exists("/etc/systemd/system/tend-cert-b.timer") || p.exists("/etc/tend/certs/b/certificate.json") {
		t.Errorf("certificate b's timer or configuration is still on the host")
	}
	if !p.exists("/etc/tend/certs/b/privkey.pem") || !p.exists("/etc/nginx/conf.d/tend-acme.conf") {
		t.Errorf("b's key or the acme server (a still needs it) went")
	}
	if out := p.tend("status", "production"); strings.Contains(out, "b.tend.test") {
		t.Errorf("status still lists b:\n%s", out)
	}

	// Renewal on the host: renew_before longer than the lifetime, so that
	// every run renews; the timer's service renews and reloads nginx,
	// which serves the new certificate, with no tend run.
	p.role(map[string]string{"a": "70d"}, "a")
	p.tend("apply", "production")
	_, before := p.get("a.tend.test")
	reloads := func() int {
		return strings.Count(l.MustEnter(t, "host1", "journalctl", "-u", "dovecot", "-o", "cat", "--no-pager"), "SIGHUP received")
	}
	dovecot := reloads()
	runJob2(t, l, "host1", "cert-a")
	// dovecot logs its reload in its own time: wait for the line.
	for i := 0; reloads() <= dovecot; i++ {
		if i == 50 {
			t.Errorf("dovecot (in reload:) was not reloaded by the renewal: %d reloads before and after", dovecot)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, after := p.get("a.tend.test")
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Errorf("the timer's run did not renew: nginx serves serial %x still", after.SerialNumber)
	}
	if got := p.hostCert("a"); got.SerialNumber.Cmp(after.SerialNumber) != 0 {
		t.Errorf("nginx serves %x, the host has %x", after.SerialNumber, got.SerialNumber)
	}
	p.tend("status", "production")

	// The CA goes away: the renewal fails, and status says so.
	pb.Stop()
	if _, err := l.Enter(t, "host1", "systemctl", "start", "tend-cert-a.service"); err == nil {
		t.Errorf("a renewal with the CA down exited 0")
	}
	p.tendFails(1, []string{"status", "production"}, "certificate cert-a", "failing")
	if _, served := p.get("a.tend.test"); served.SerialNumber.Cmp(after.SerialNumber) != 0 {
		t.Errorf("a failed renewal changed the certificate served")
	}

	// The CA is back, issuing for 10 days only: the renewal succeeds, but
	// a certificate within 14 days of its expiry fails status.
	pb.SetValidity(10 * 24 * time.Hour)
	pb.Start()
	p.roots = pb.IssuingRoot()
	runJob2(t, l, "host1", "cert-a")
	if _, served := p.get("a.tend.test"); served.NotAfter.After(time.Now().Add(11 * 24 * time.Hour)) {
		t.Errorf("served certificate expires %v, want Pebble's 10 days", served.NotAfter)
	}
	p.tendFails(1, []string{"status", "production"}, "certificate a", "less than 14 days")

	// Every certificate leaves: the acme server goes, nginx keeps running,
	// status is clean again.
	p.role(nil)
	p.tend("apply", "production")
	if p.exists("/etc/nginx/conf.d/tend-acme.conf") || p.exists("/etc/systemd/system/tend-cert-a.timer") {
		t.Errorf("the acme server or a's timer is still on the host")
	}
	l.MustEnter(t, "host1", "systemctl", "is-active", "nginx")
	p.tend("status", "production")
}

// runJob2 starts a job's service now, as its timer would, and fails the
// test with the job's record when it fails.
func runJob2(t *testing.T, l *labtest.Lab, host, name string) {
	t.Helper()
	if out, err := l.Enter(t, host, "systemctl", "start", "tend-"+name+".service"); err != nil {
		st, _ := l.Enter(t, host, "cat", "/var/lib/tend/jobs/"+name+".json")
		t.Fatalf("%s: job %s failed: %v %s\n%s", host, name, err, out, st)
	}
}
