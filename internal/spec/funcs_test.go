package spec

import (
	"strings"
	"testing"
)

const funcsRepo = `
-- tend.yaml --
name: f
-- environments/production.yaml --
hosts:
  web: {address: 10.0.0.1, roles: [web]}
secrets:
  db_password: vault_db_password
-- roles/web/role.yaml --
vars:
  vhosts: [a.example.org, b.example.org]
  empty: ""
  conf: {port: 8080, names: [a, b]}
  block: "line one\nline two"
resources:
  - file: /etc/out
    content: |
      join={{ .vhosts | join ", " }}
      default={{ .empty | default "fallback" }} kept={{ .host.name | default "x" }}
      quote={{ "say \"hi\"" | quote }} squote={{ "it's" | squote }}
      upper={{ .host.name | upper }} replace={{ .host.name | replace "w" "W" }}
      json={{ .conf | to_json }}
      yaml:{{ .conf | to_yaml | nindent 2 }}
      indent:
      {{ .block | indent 4 }}
      b64={{ "tend" | b64enc }} back={{ "dGVuZA==" | b64dec }}
      split={{ index ("x:y" | split ":") 1 }} contains={{ contains "example" (index .vhosts 0) }}
  - file: /etc/clear
    content: "{{ .host.name | b64enc }}"
  - file: /etc/hidden
    content: "{{ .db_password | b64enc }} {{ .db_password | upper }}"
`

// TestTemplateFuncs: the template helpers render as documented, and a
// secret changed by one (base64, upper case) still marks its resource
// sensitive, so that a plan never shows it.
func TestTemplateFuncs(t *testing.T) {
	r, err := Load(writeRepo(t, funcsRepo))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Compile("production", "web", map[string]string{"vault_db_password": "s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := `join=a.example.org, b.example.org
default=fallback kept=web
quote="say \"hi\"" squote='it'\''s'
upper=WEB replace=Web
json={"names":["a","b"],"port":8080}
yaml:
  names:
      - a
      - b
  port: 8080
indent:
    line one
    line two
b64=dGVuZA== back=tend
split=y contains=true
`
	if got := content(t, h, "file:/etc/out"); got != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", got, want)
	}
	for _, x := range h.Resources {
		switch x.ID {
		case "file:/etc/hidden":
			if !x.Sensitive {
				t.Errorf("a secret through b64enc and upper is not marked sensitive")
			}
			if c := x.Spec.(*File).Content; !strings.Contains(c, "czNjcmV0LXB3") || !strings.Contains(c, "S3CRET-PW") {
				t.Errorf("hidden content %q", c)
			}
		case "file:/etc/clear", "file:/etc/out":
			if x.Sensitive {
				t.Errorf("%s holds no secret but is marked sensitive", x.ID)
			}
		}
	}
}

// TestTemplateFuncErrors: a function misused is an error at the field's
// position.
func TestTemplateFuncErrors(t *testing.T) {
	repo := strings.Replace(funcsRepo, `{{ .block | indent 4 }}`, `{{ .block | indent "four" }}`, 1)
	r, err := Load(writeRepo(t, repo))
	if err == nil {
		_, err = r.Compile("production", "web", map[string]string{"vault_db_password": "x"})
	}
	if err == nil || !strings.Contains(err.Error(), "roles/web/role.yaml:") || !strings.Contains(err.Error(), "indent: the width") {
		t.Fatalf("got %v", err)
	}
}

// TestCompileFactsConcurrent: plan compiles hosts again with their facts at
// once (one goroutine per host): templates with functions are safe for
// that (run with -race).
func TestCompileFactsConcurrent(t *testing.T) {
	r, err := Load(writeRepo(t, funcsRepo))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			f := PlaceholderFacts()
			f["cpus"] = i
			_, err := r.CompileFacts("production", "web", map[string]string{"vault_db_password": "pw"}, f)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
