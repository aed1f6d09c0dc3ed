package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

// writeRepo writes the files of a txtar archive into a new directory.
func writeRepo(t *testing.T, archive string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range txtar.Parse([]byte(archive)).Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadGood(t *testing.T) *Repo {
	t.Helper()
	r, err := Load("testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func content(t *testing.T, h *Host, id string) string {
	t.Helper()
	for _, r := range h.Resources {
		if r.ID == id {
			return r.Spec.(*File).Content
		}
	}
	t.Fatalf("host %s has no resource %s", h.Name, id)
	return ""
}

// TestPrecedence sets the variable x at every level up to one, and checks
// that the highest level set wins: required role < requiring role <
// tend.yaml < environment < host < secret.
func TestPrecedence(t *testing.T) {
	levels := []string{"required role", "requiring role", "tend.yaml", "environment", "host", "secret"}
	for top := range levels {
		t.Run(levels[top], func(t *testing.T) {
			set := func(level int) string {
				// A name mapped to a secret cannot also be an environment
				// or host variable (a load error), so those stay unset then.
				if level <= top && level < 5 && !(top == 5 && level >= 3) {
					return "    x: " + levels[level] + "\n"
				}
				return ""
			}
			secrets := ""
			if top == 5 {
				secrets = "secrets:\n  x: vault_x\n"
			}
			dir := writeRepo(t, `
-- tend.yaml --
vars:
`+strings.ReplaceAll(set(2), "    x", "  x")+`  other: 1
-- roles/base/role.yaml --
vars:
  other: 2
`+strings.ReplaceAll(set(0), "    x", "  x")+`
-- roles/app/role.yaml --
requires: [base]
vars:
  other: 3
`+strings.ReplaceAll(set(1), "    x", "  x")+`
resources:
  - file: /x
    content: "{{.x}}"
-- environments/prod.yaml --
`+secrets+`vars:
  other: 4
`+strings.ReplaceAll(set(3), "    x", "  x")+`
hosts:
  web:
    address: 192.0.2.1
    roles: [app]
    vars:
      other: 5
`+strings.ReplaceAll(set(4), "    x", "      x"))
			r, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			h, err := r.Compile("prod", "web", map[string]string{"vault_x": "secret"})
			if err != nil {
				t.Fatal(err)
			}
			want := levels[top]
			if top == 5 {
				want = "secret"
			}
			if got := content(t, h, "file:/x"); got != want {
				t.Errorf("x = %q, want %q", got, want)
			}
			if _, ok := h.Vars["x"]; ok == (top == 5) {
				t.Errorf("Vars has x: %v, want it only when x is not a secret", ok)
			}
		})
	}
}

// TestOrder checks the convergence order: required roles first (postgresql,
// swap, nginx before alaveteli), declaration order within a role, except
// that service:nginx moves after the package:nginx it requires.
func TestOrder(t *testing.T) {
	h, err := loadGood(t).Compile("production", "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range h.Resources {
		got = append(got, r.Role+" "+r.ID)
	}
	want := []string{
		"postgresql package:postgresql",
		"postgresql service:postgresql",
		"postgresql postgres_settings:main",
		"postgresql postgres_hba:local-all",
		"swap swap:/swapfile",
		"nginx package:nginx",
		"nginx service:nginx",
		"alaveteli user:alaveteli",
		"alaveteli file:/etc/nginx/sites-enabled/alaveteli",
		"alaveteli envdir:/srv/alaveteli/env",
		"alaveteli postgres_role:alaveteli",
		"alaveteli postgres_database:alaveteli",
		"alaveteli file:/etc/motd",
		"alaveteli timer:alaveteli-alerts",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"postgresql", "swap", "nginx", "alaveteli"}, h.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	var handlers []string
	for _, x := range h.Handlers {
		handlers = append(handlers, x.Name+" "+x.Action+" "+x.Service)
	}
	if diff := cmp.Diff([]string{"restart-postgresql restart postgresql", "reload-nginx reload nginx"}, handlers); diff != "" {
		t.Errorf("handlers (-want +got):\n%s", diff)
	}
}

// TestRender checks rendered values: a template file with variables of
// every level and the host and env data; project vars over role defaults;
// a source file copied as is; defaults filled in.
func TestRender(t *testing.T) {
	r := loadGood(t)
	h, err := r.Compile("staging", "web-staging", map[string]string{"vault_db_password": "canary-7f3a"})
	if err != nil {
		t.Fatal(err)
	}
	wantNginx := `server {
    listen 80;
    listen [::]:80;
    server_name staging.madada.fr;
    # web-staging in staging, 1 workers
    root /srv/alaveteli/current/public;
}
`
	if diff := cmp.Diff(wantNginx, content(t, h, "file:/etc/nginx/sites-enabled/alaveteli")); diff != "" {
		t.Errorf("nginx.conf (-want +got):\n%s", diff)
	}
	if got := content(t, h, "file:/etc/motd"); got != "Managed by tend.\n" {
		t.Errorf("motd = %q", got)
	}
	byID := map[string]*Resource{}
	for _, x := range h.Resources {
		byID[x.ID] = x
	}
	ed := byID["envdir:/srv/alaveteli/env"]
	if ed == nil {
		t.Fatalf("no envdir; resources: %v", slices.Collect(func(yield func(string) bool) {
			for id := range byID {
				yield(id)
			}
		}))
	}
	if got := ed.Spec.(*Envdir); got.Vars["DATABASE_PASSWORD"] != "canary-7f3a" || got.Owner != "alaveteli" || !got.Secret {
		t.Errorf("envdir = %+v", got)
	}
	for id, want := range map[string]bool{"envdir:/srv/alaveteli/env": true, "postgres_role:alaveteli": true, "file:/etc/nginx/sites-enabled/alaveteli": false, "user:alaveteli": false} {
		if byID[id].Sensitive != want {
			t.Errorf("%s: Sensitive = %v, want %v", id, byID[id].Sensitive, want)
		}
	}
	if s := byID["swap:/swapfile"].Spec.(*Swap); s.Size != "1G" || *s.Swappiness != 10 {
		t.Errorf("swap = %+v, want size 1G from tend.yaml over the role's 512M", s)
	}
	if f := byID["file:/etc/motd"].Spec.(*File); f.Mode != "0644" || f.Owner != "root" {
		t.Errorf("file defaults: %+v", f)
	}
	if h.Address != "staging.madada.fr" || h.SSH != (SSH{User: "deploy", Port: 2222}) || h.Arch != "amd64" {
		t.Errorf("connection data: %s %+v %s", h.Address, h.SSH, h.Arch)
	}
	// The declared resource is untouched by rendering.
	if d := r.Roles["alaveteli"].Resources[2]; d.Name != "{{.app_dir}}/env" {
		t.Errorf("role resource changed by Compile: %q", d.Name)
	}
}

// TestCompileErrors checks errors that need secrets or several hosts.
func TestCompileErrors(t *testing.T) {
	r := loadGood(t)
	tests := []struct {
		name, env, host string
		secrets         map[string]string
		want            []Error
	}{
		{
			name: "missing secret", env: "production", host: "web", secrets: map[string]string{},
			want: []Error{{File: "environments/production.yaml", Line: 4, Col: 16,
				Msg: "secret vault_db_password (variable db_password) has no value in the secrets of environment production"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Compile(tt.env, tt.host, tt.secrets)
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error %v (%T), want an ErrorList", err, err)
			}
			var got []Error
			for _, e := range l {
				got = append(got, *e)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := r.Compile("production", "db", nil); err == nil || !strings.Contains(err.Error(), `unknown host "db"`) {
		t.Errorf("unknown host: %v", err)
	}
	if _, err := r.Compile("prod", "web", nil); err == nil || !strings.Contains(err.Error(), `unknown environment "prod"`) {
		t.Errorf("unknown environment: %v", err)
	}
}

// TestUndefinedVariable checks that a variable defined for one host only
// fails, with its position, for the other host, and never renders empty.
func TestUndefinedVariable(t *testing.T) {
	dir := writeRepo(t, `
-- tend.yaml --
-- roles/app/role.yaml --
resources:
  - file: /etc/app.conf
    content: |
      name = {{.host.name}}
      port = {{ .port }}
-- environments/prod.yaml --
hosts:
  a:
    address: 192.0.2.1
    roles: [app]
    vars: {port: 8080}
  b:
    address: 192.0.2.2
    roles: [app]
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("prod", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := content(t, h, "file:/etc/app.conf"); got != "name = a\nport = 8080\n" {
		t.Errorf("content = %q", got)
	}
	_, err = r.Compile("prod", "b", nil)
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 1 {
		t.Fatalf("error = %v, want one error", err)
	}
	want := Error{File: "roles/app/role.yaml", Line: 5, Col: 17, Msg: "file /etc/app.conf: content: undefined variable .port (host prod/b)"}
	if diff := cmp.Diff(want, *l[0]); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestCompileConcurrent compiles every host many times at once (run with
// -race): Compile is documented as safe for concurrent use.
func TestCompileConcurrent(t *testing.T) {
	r := loadGood(t)
	want, err := r.Compile("production", "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			env, host := "production", "web"
			if i%2 == 1 {
				env, host = "staging", "web-staging"
			}
			h, err := r.Compile(env, host, map[string]string{"vault_db_password": "x"})
			if err == nil && len(h.Resources) != len(want.Resources) {
				err = errors.New("different resources")
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRenderedSyntax checks that values with a syntax are checked again
// once rendered: a template hides them from Load, not from Compile, and
// the error points at the field in the role.
func TestRenderedSyntax(t *testing.T) {
	dir := writeRepo(t, `
-- tend.yaml --
-- roles/db/role.yaml --
resources:
  - postgres_hba: app
    database: app
    user: app
    address: "{{ .app_net }}"
    method: scram-sha-256
  - timer: vacuum
    on_calendar: "{{ .vacuum_at }}"
    command: vacuumdb --all
-- environments/prod.yaml --
hosts:
  good:
    address: 192.0.2.1
    roles: [db]
    vars: {app_net: 10.0.0.0/24, vacuum_at: "Sun 03:00"}
  bad:
    address: 192.0.2.2
    roles: [db]
    vars: {app_net: 10.0.0.0/33, vacuum_at: "Sun 27:00"}
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Compile("prod", "good", nil); err != nil {
		t.Fatal(err)
	}
	_, err = r.Compile("prod", "bad", nil)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error = %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	want := []string{
		`roles/db/role.yaml:5:14: postgres_hba app: address "10.0.0.0/33" is not an address range such as 10.0.0.0/8 or fd00::/8`,
		`roles/db/role.yaml:8:18: timer vacuum: on_calendar "Sun 27:00" is not a systemd calendar expression (such as daily, Mon..Fri 02:00 or *:0/15): hour 27 is out of range 0-23`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// A value rendered for one host with a newline in it would add a line of
// its own to the host's config (another pg_hba.conf entry, another
// directive of the unit): Compile refuses it for that host, at the field.
func TestRenderedNewline(t *testing.T) {
	dir := writeRepo(t, `
-- tend.yaml --
-- roles/db/role.yaml --
resources:
  - postgres_hba: app
    database: app
    user: "{{ .app_user }}"
    address: 10.0.0.0/24
    method: scram-sha-256
  - cron: vacuum
    schedule: "0 3 * * *"
    command: "vacuumdb {{ .vacuum_args }}"
  - envdir: /etc/app/env
    vars:
      GREETING: "{{ .greeting }}"
-- environments/prod.yaml --
hosts:
  good:
    address: 192.0.2.1
    roles: [db]
    vars: {app_user: app, vacuum_args: --all, greeting: "hello\nworld"}
  bad:
    address: 192.0.2.2
    roles: [db]
    vars: {app_user: "app\nhost all all 0.0.0.0/0 trust", vacuum_args: "--all\n* * * * * root evil", greeting: "a\u0000b"}
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A newline in an envdir value is fine: tend writes it as NUL, which
	// envdir turns back into a newline.
	if _, err := r.Compile("prod", "good", nil); err != nil {
		t.Fatal(err)
	}
	_, err = r.Compile("prod", "bad", nil)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error = %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	want := []string{
		`roles/db/role.yaml:4:11: postgres_hba app: user holds the control character '\n': it is written into one line of a configuration file on the host, where a newline would start another entry; give it on one line of printable text`,
		`roles/db/role.yaml:9:14: cron vacuum: command holds the control character '\n': cron reads each line of the file as an entry; give the command on one line of printable text`,
		`roles/db/role.yaml:12:17: envdir /etc/app/env: variable GREETING holds a NUL byte, which envdir turns into a newline`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestFileBackupNeedsHostName: a file_backup records the host's name, so
// the host's name must be a host name; the error says where.
func TestFileBackupNeedsHostName(t *testing.T) {
	dir := writeRepo(t, `
-- tend.yaml --
name: demo
-- environments/prod.yaml --
hosts:
  web1: {address: 192.0.2.1, roles: [base]}
  db_1: {address: 192.0.2.2, roles: [base]}
-- roles/base/role.yaml --
resources:
  - file_backup: etc
    paths: [/etc]
    store: file:///srv/backup
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Compile("prod", "web1", nil); err != nil {
		t.Errorf("web1: %v", err)
	}
	_, err = r.Compile("prod", "db_1", nil)
	if err == nil || !strings.Contains(err.Error(), "role.yaml:2:") || !strings.Contains(err.Error(), `host name "db_1": character '_' is not allowed`) {
		t.Errorf("db_1: %v", err)
	}
}

// TestFileBackupKeyFromSecret: a file_backup's key comes from a secret, so
// compiled without secrets (tend validate, tend docs) it holds the
// placeholder, which is not refused; given the secret, a value that is
// not a write key still is, at the key's line.
func TestFileBackupKeyFromSecret(t *testing.T) {
	dir := writeRepo(t, `
-- tend.yaml --
-- environments/prod.yaml --
secrets:
  backup_key: vault_backup_key
hosts:
  web1: {address: 192.0.2.1, roles: [base]}
-- roles/base/role.yaml --
resources:
  - file_backup: etc
    paths: [/etc]
    store: file:///srv/backup
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    key: "{{ .backup_key }}"
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Compile("prod", "web1", nil); err != nil {
		t.Errorf("without secrets: %v", err)
	}
	_, err = r.Compile("prod", "web1", map[string]string{"vault_backup_key": "not-a-key"})
	if err == nil || !strings.Contains(err.Error(), "role.yaml:6:10: file_backup etc: key must be the repository's write key") {
		t.Errorf("with a bad key: %v", err)
	}
	if _, err := r.Compile("prod", "web1", map[string]string{"vault_backup_key": strings.Repeat("ab", 32)}); err != nil {
		t.Errorf("with a good key: %v", err)
	}
}
