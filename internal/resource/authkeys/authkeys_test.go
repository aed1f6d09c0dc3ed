package authkeys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tend/internal/lab/labtest"
	"tend/internal/resource/resourcetest"
	"tend/internal/spec"
	tssh "tend/internal/transport/ssh"
	"tend/internal/wire"
)

// newKey makes a key pair: its signer and its authorized_keys line.
func newKey(t *testing.T, comment string) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) + " " + comment
}

func TestConverge(t *testing.T) {
	l := labtest.New(t, 1)
	item := resourcetest.Item
	s1, k1 := newKey(t, "one@laptop")
	s2, k2 := newKey(t, "two@ci")
	_, k3 := newKey(t, "other")

	// login reports whether sshd on the host lets signer in as user: the
	// real effect of the file, with sshd's own checks of its modes.
	login := func(t *testing.T, user string, signer ssh.Signer) bool {
		t.Helper()
		h := l.Host(t, "host1")
		hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := tssh.Dial(ctx, tssh.Config{Host: h.Addr, User: user, Signer: signer, HostKey: hk})
		if err != nil {
			return false
		}
		defer c.Close()
		out, err := c.Output(ctx, "id -un")
		return err == nil && strings.TrimSpace(out) == user
	}
	cat := func(t *testing.T, path string) string {
		t.Helper()
		out, err := l.Enter(t, "host1", "cat", path)
		if err != nil {
			t.Fatalf("cat %s: %v: %s", path, err, out)
		}
		return out
	}
	stat := func(t *testing.T, path string) string {
		t.Helper()
		out, _ := l.Enter(t, "host1", "stat", "-c", "%a %U:%G", path)
		return strings.TrimSpace(out)
	}
	// bob exists with a file of his own: a comment, another key, and k1
	// with another comment, owned by root and too open.
	l.Run(t, "host1", "useradd -m -s /bin/bash bob && mkdir -p ~bob/.ssh && printf '# bob keys\\n"+k3+"\\n"+strings.Replace(k1, "one@laptop", "old", 1)+"\\n' > ~bob/.ssh/authorized_keys && chmod 644 ~bob/.ssh/authorized_keys && chmod 755 ~bob/.ssh")
	const bobKeys = "/home/bob/.ssh/authorized_keys"
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name: "add keys, keep others",
			Resources: []wire.Item{
				item(spec.KindAuthorizedKeys, "bob", spec.AuthorizedKeys{Keys: []string{k1, k2}}),
			},
			Check: func(t *testing.T) {
				if got, want := cat(t, bobKeys), "# bob keys\n"+k3+"\n"+k1+"\n"+k2+"\n"; got != want {
					t.Errorf("content:\n%s\nwant:\n%s", got, want)
				}
				if got := stat(t, bobKeys); got != "600 bob:bob" {
					t.Errorf("file: %s", got)
				}
				if got := stat(t, "/home/bob/.ssh"); got != "700 bob:bob" {
					t.Errorf(".ssh: %s", got)
				}
				if !login(t, "bob", s1) || !login(t, "bob", s2) {
					t.Error("a listed key cannot log in")
				}
			},
		},
		resourcetest.State{
			Name: "exclusive",
			Resources: []wire.Item{
				item(spec.KindAuthorizedKeys, "bob", spec.AuthorizedKeys{Keys: []string{k2}, Exclusive: true}),
			},
			Check: func(t *testing.T) {
				if got, want := cat(t, bobKeys), "# bob keys\n"+k2+"\n"; got != want {
					t.Errorf("content:\n%s\nwant:\n%s", got, want)
				}
				if login(t, "bob", s1) {
					t.Error("a removed key still logs in")
				}
				if !login(t, "bob", s2) {
					t.Error("the listed key cannot log in")
				}
			},
		},
		resourcetest.State{
			Name: "user created in the same run",
			Resources: []wire.Item{
				item(spec.KindUser, "dora", spec.User{}),
				item(spec.KindAuthorizedKeys, "dora", spec.AuthorizedKeys{Keys: []string{k1}}),
			},
			Check: func(t *testing.T) {
				if got := stat(t, "/home/dora/.ssh/authorized_keys"); got != "600 dora:dora" {
					t.Errorf("file: %s", got)
				}
				if !login(t, "dora", s1) {
					t.Error("the key cannot log in")
				}
			},
		},
	)
}
