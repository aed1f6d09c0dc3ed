package cli

import (
	"strings"
	"testing"

	"tend/internal/lab"
	"tend/internal/lab/labtest"
)

// TestExample applies examples/foi to lab hosts, production and staging,
// checks what a user would (the site answers, the database exists, the
// swap file is there), and that a second plan changes nothing.
func TestExample(t *testing.T) {
	const repo = "../../examples/foi"
	code, out, errs := run(t, "parity", "staging", "production", "--repo", repo)
	if code != 0 || !strings.Contains(out, "4 differences, 0 not allowed") {
		t.Fatalf("parity: exit %d\n%s%s", code, out, errs)
	}
	bin, err := agentBinaryForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEND_AGENT_BINARY", bin)
	for _, tc := range []struct{ env, host, name string }{
		{"production", "app", "foi.example.org"},
		{"staging", "app-staging", "staging.foi.example.org"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			l := labtest.NewWith(t, lab.Options{Hosts: []string{tc.host}})
			flags := []string{"--repo", repo, "--lab", l.State.Name}
			code, out, errs := run(t, append([]string{"apply", tc.env}, flags...)...)
			if code != 0 {
				t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
			}
			code, out, errs = run(t, append([]string{"plan", tc.env}, flags...)...)
			if code != 0 || !strings.Contains(out, "Plan: 0 resource(s) to change") {
				t.Fatalf("second plan: exit %d\n%s%s", code, out, errs)
			}
			if got := l.Run(t, tc.host, "curl -s http://localhost/"); got != "<h1>"+tc.name+"</h1>\n" {
				t.Errorf("the site answers %q", got)
			}
			if got := l.Run(t, tc.host, "runuser -u postgres -- psql -XAtc \"select pg_catalog.pg_get_userbyid(datdba) from pg_database where datname = 'foi'\""); got != "alaveteli\n" {
				t.Errorf("database foi owned by %q", got)
			}
			if got := l.Run(t, tc.host, "stat -c '%s %a' /swapfile; grep -c /swapfile /etc/fstab"); got != "67108864 600\n1\n" {
				t.Errorf("swap file: %q", got)
			}
		})
	}
}
