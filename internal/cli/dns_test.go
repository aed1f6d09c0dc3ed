package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tend/internal/dns/dnstest"
	"tend/internal/lab/labtest"
)

// TestDNSPlanApplyKnot: DNS as a user runs it, against a real Knot on
// loopback and a lab host in the same runs: plan lists the records to
// create beside the host's changes, apply makes both (checked by querying
// Knot and the host), the plan after it is empty; an update and a
// deletion; a record tend never declared stays until the zone purges,
// and then the plan lists it. A wrong TSIG key, then a server that is
// down: the error names the zone and the server, and the host change of
// the same apply is not started (DNS is read before any host).
func TestDNSPlanApplyKnot(t *testing.T) {
	l := labtest.New(t, 1)
	k := dnstest.Start(t, "example.org", "legacy TXT \"by hand\"\n")
	e := newSecretEnv(t)
	e.forLab()
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok(k.Secret+"\n", "secret", "set", "production", "vault_dns_tsig", "--recipient", pub)
	write := func(dir string, records ...string) {
		t.Helper()
		env := "hosts:\n  host1: {address: 192.0.2.1, roles: [web]}\ndns:\n  example.org:\n    provider: rfc2136\n    server: " + k.Addr +
			"\n    key_name: " + k.KeyName + "\n    key_secret: vault_dns_tsig\n    ttl: 600\n    records:\n"
		for _, r := range records {
			if r == "purge" {
				env = strings.Replace(env, "    ttl: 600\n", "    ttl: 600\n    purge: true\n", 1)
				continue
			}
			env += "      - '" + r + "'\n"
		}
		// A real provider's zone, which a lab rehearsal must leave alone.
		env += "  example.net:\n    provider: gandi\n    token: vault_gandi_token\n    records: ['www A 192.0.2.1']\n"
		for name, text := range map[string]string{
			"tend.yaml":                    "name: dns\n",
			"environments/production.yaml": env,
			"roles/web/role.yaml":          "resources:\n  - directory: " + dir + "\n",
		} {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			if err := os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}
	plan := func(want ...string) {
		t.Helper()
		out, errOut, code := e.run("", append([]string{"plan", "production"}, lab...)...)
		if code != 3 {
			t.Fatalf("plan: exit %d, want 3 (changes)\n%s%s", code, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("plan lacks %q:\n%s", w, out)
			}
		}
	}
	apply := func() {
		t.Helper()
		out := e.ok("", append([]string{"apply", "production"}, lab...)...)
		if !strings.Contains(out, "DNS: ") || !strings.Contains(out, "made in 1 zone(s)") {
			t.Errorf("apply does not say it changed the zone:\n%s", out)
		}
		e.ok("", append([]string{"plan", "production"}, lab...)...) // exit 0: nothing left to change
	}
	lookup := func(name, typ string, want ...string) {
		t.Helper()
		if got := k.Lookup(t, name, typ); !(len(got) == 0 && len(want) == 0 || slices.Equal(got, want)) {
			t.Errorf("Knot answers %s %s %q, want %q", name, typ, got, want)
		}
	}

	write("/srv/www", "www A 192.0.2.1", "@ MX 10 mail", "mail A 192.0.2.2", `_dmarc TXT "v=DMARC1; p=reject"`)
	plan("host host1:", "+ directory:/srv/www", "dns example.org (rfc2136 server "+k.Addr+"):",
		"+ www A 600 192.0.2.1", "+ @ MX 600 10 mail.example.org.", `+ _dmarc TXT 600 "v=DMARC1; p=reject"`, "DNS: ")
	out, errOut, _ := e.run("", append([]string{"plan", "production"}, lab...)...)
	if !strings.Contains(errOut, "dns zone example.net: left out of the lab rehearsal: gandi is not an rfc2136 server on loopback") || strings.Contains(out, "example.net") {
		t.Errorf("a lab rehearsal plans a real provider's zone:\n%s%s", out, errOut)
	}
	out, _, _ = e.run("", append([]string{"plan", "production", "--json"}, lab...)...)
	if !strings.Contains(out, `{"type":"dns","zone":"example.org","where":"rfc2136 server `+k.Addr+`","changes":[`) ||
		!strings.Contains(out, `{"action":"create","name":"www","type":"A","to":["600 192.0.2.1"]}`) {
		t.Errorf("plan --json has no dns line for the zone:\n%s", out)
	}
	out, errOut, _ = e.run("", append([]string{"plan", "production", "--limit", "host1"}, lab...)...)
	if !strings.Contains(errOut, "dns: left out") || strings.Contains(out, "dns example.org") {
		t.Errorf("plan --limit plans DNS:\n%s%s", out, errOut)
	}
	out, errOut, _ = e.run("", append([]string{"plan", "production", "--only", "web"}, lab...)...)
	if !strings.Contains(errOut, "dns: left out: a run of some resources") || strings.Contains(out, "dns example.org") {
		t.Errorf("plan --only plans DNS:\n%s%s", out, errOut)
	}
	apply()
	lookup("www", "A", "192.0.2.1")
	lookup("@", "MX", "10 mail.example.org.")
	lookup("_dmarc", "TXT", `"v=DMARC1; p=reject"`)
	l.Run(t, "host1", "test -d /srv/www")

	// An update and a deletion; the hand-made record stays.
	write("/srv/www", "www A 192.0.2.5", "@ MX 10 mail", "mail A 192.0.2.2")
	plan("~ www A 600 192.0.2.1 -> 600 192.0.2.5", `- _dmarc TXT 600 "v=DMARC1; p=reject"  (no longer in the spec)`)
	apply()
	lookup("www", "A", "192.0.2.5")
	lookup("_dmarc", "TXT")
	lookup("legacy", "TXT", `"by hand"`)

	// Purge: the plan lists each record it deletes.
	write("/srv/www", "purge", "www A 192.0.2.5", "@ MX 10 mail", "mail A 192.0.2.2")
	plan(`- legacy TXT 300 "by hand"  (purge: not in the spec)`)
	apply()
	lookup("legacy", "TXT")
	lookup("www", "A", "192.0.2.5")

	// A saved plan: apply --plan makes its record changes; one whose
	// zone needs other changes since is refused before any host.
	write("/srv/www", "purge", "www A 192.0.2.6", "@ MX 10 mail", "mail A 192.0.2.2")
	saved := filepath.Join(t.TempDir(), "plan.json")
	if _, errOut, code := e.run("", append([]string{"plan", "production", "--out", saved}, lab...)...); code != 3 {
		t.Fatalf("plan --out: exit %d\n%s", code, errOut)
	}
	e.ok("", append([]string{"apply", "production", "--plan", saved}, lab...)...)
	lookup("www", "A", "192.0.2.6")
	write("/srv/www", "purge", "www A 192.0.2.7", "@ MX 10 mail", "mail A 192.0.2.2")
	e.run("", append([]string{"plan", "production", "--out", saved}, lab...)...)
	write("/srv/www", "purge", "www A 192.0.2.8", "@ MX 10 mail", "mail A 192.0.2.2")
	e.fails(1, "", append([]string{"apply", "production", "--plan", saved}, lab...), "the saved plan is stale: the records of dns zone example.org")
	lookup("www", "A", "192.0.2.6")

	// A wrong key: nothing changes, on the host either.
	write("/srv/other", "www A 192.0.2.7")
	e.ok("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n", "secret", "set", "production", "vault_dns_tsig")
	e.fails(1, "", append([]string{"apply", "production"}, lab...), "dns zone example.org (rfc2136 server "+k.Addr+")", "nothing was changed")
	l.Run(t, "host1", "test ! -e /srv/other")
	lookup("www", "A", "192.0.2.6")

	// A server that is down: the same.
	e.ok(k.Secret+"\n", "secret", "set", "production", "vault_dns_tsig")
	k.Stop(t)
	e.fails(1, "", append([]string{"apply", "production"}, lab...), "dns zone example.org (rfc2136 server "+k.Addr+")", "nothing was changed")
	l.Run(t, "host1", "test ! -e /srv/other")

	for _, o := range e.outputs {
		if strings.Contains(o, k.Secret) {
			t.Fatalf("tend printed the TSIG key:\n%s", o)
		}
	}
}

// TestDNSAfterHosts: the records change after the hosts. A zone that can
// be read but refuses the update (its ACL changed between the check and
// the update): apply fails naming the zone and the server, and the host's
// change of the same apply is made. A host that fails: no record changes,
// and apply says why.
func TestDNSAfterHosts(t *testing.T) {
	l := labtest.New(t, 1)
	k := dnstest.Start(t, "example.org", "", dnstest.TransferOnly)
	e := newSecretEnv(t)
	e.forLab()
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok(k.Secret+"\n", "secret", "set", "production", "vault_dns_tsig", "--recipient", pub)
	write := func(role string) {
		t.Helper()
		for name, text := range map[string]string{
			"tend.yaml": "name: dns\n",
			"environments/production.yaml": "hosts:\n  host1: {address: 192.0.2.1, roles: [web]}\ndns:\n  example.org:\n    provider: rfc2136\n    server: " + k.Addr +
				"\n    key_name: " + k.KeyName + "\n    key_secret: vault_dns_tsig\n    records: ['www A 192.0.2.1']\n",
			"roles/web/role.yaml": role,
		} {
			os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
			if err := os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lab := []string{"--repo", e.repo, "--lab", l.State.Name}

	write("resources:\n  - directory: /srv/www\n")
	e.fails(1, "", append([]string{"apply", "production"}, lab...),
		"dns zone example.org (rfc2136 server "+k.Addr+"): write records:", "the hosts' changes were made")
	l.Run(t, "host1", "test -d /srv/www")
	if got := k.Lookup(t, "www", "A"); len(got) != 0 {
		t.Errorf("Knot took an update its ACL refuses: %q", got)
	}

	write("resources:\n  - command: broken\n    run: exit 1\n")
	out, _, code := e.run("", append([]string{"apply", "production"}, lab...)...)
	if code != 1 || !strings.Contains(out, "DNS: 1 record change(s) not made: 1 host(s) failed") {
		t.Errorf("apply with a failed host: exit %d, want 1 and DNS not made:\n%s", code, out)
	}
}

// TestValidateDNSSecrets: a zone names its credentials by secret name, and
// validate checks that the secret exists (and does not take the name for
// a secret name out of place).
func TestValidateDNSSecrets(t *testing.T) {
	e := newSecretEnv(t)
	for name, text := range map[string]string{
		"tend.yaml": "name: s\n",
		"environments/production.yaml": "secrets:\n  db_password: vault_db_password\nhosts:\n  web: {address: 192.0.2.1}\n" +
			"dns:\n  example.org:\n    provider: rfc2136\n    server: 192.0.2.53:53\n    key_name: tend\n    key_secret: vault_dns_tsig\n",
	} {
		os.MkdirAll(filepath.Join(e.repo, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key, pub := e.keygen("ops")
	e.useKey(key)
	e.ok("pw\n", "secret", "set", "production", "vault_db_password", "--recipient", pub)
	errs := e.fails(ExitUsage, "", []string{"validate", "--repo", e.repo},
		"environments/production.yaml:10:17: dns zone example.org: key_secret: secret vault_dns_tsig is not in secrets/production.yaml")
	if strings.Contains(errs, "secret names are used only under secrets:") {
		t.Errorf("a zone's credential was taken for a secret name out of place:\n%s", errs)
	}
	e.ok("c2VjcmV0\n", "secret", "set", "production", "vault_dns_tsig")
	e.ok("", "validate", "--repo", e.repo)
}
