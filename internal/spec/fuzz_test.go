package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes the fuzzed bytes as an environment file of the example
// repository and loads and compiles it: any input may be refused, none may
// make Load or Compile panic.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/good/environments/production.yaml", "testdata/good/environments/staging.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("hosts:\n  web: {address: 192.0.2.1, roles: [swap], vars: {swap_size: \"{{.host.roles}}\"}}\n"))
	f.Add([]byte("like: production\nmay_differ: [hosts.*.vars.x]\nhosts: {web: {like: web, address: '::1'}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	dir := f.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/good")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env := filepath.Join(dir, "environments", "fuzz.yaml")
		if err := os.WriteFile(env, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(dir)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, h := range r.Environments["fuzz"].Hosts {
			r.Compile("fuzz", h.Name, nil)
		}
		Parity(r, "fuzz", "production")
	})
}

// FuzzSyntax runs the value parsers on any text: they may refuse it, never
// panic, and a refusal always says why.
func FuzzSyntax(f *testing.F) {
	for _, s := range calendarCases {
		f.Add(s)
	}
	for _, s := range []string{"*/5 1-3 * jan mon", "@daily", "10.0.0.0/33", `app,"my db"`, "::1", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) error{parseCalendar, parseCron, parseHBAAddress, parseHBAList} {
			if err := parse(s); err != nil && err.Error() == "" {
				t.Fatalf("%q: empty error message", s)
			}
		}
	})
}
