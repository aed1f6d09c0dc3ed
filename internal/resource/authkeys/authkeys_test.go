package authkeys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
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
			Name: "user created in the same run; bob's keys left out",
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
				// k2, the key tend added to bob's file, went; the file
				// existed before tend: it stays, with bob's comment.
				if got, want := cat(t, bobKeys), "# bob keys\n"; got != want {
					t.Errorf("bob's file:\n%s\nwant:\n%s", got, want)
				}
				if login(t, "bob", s2) {
					t.Error("the key tend added to bob's file still logs in")
				}
			},
		},
		resourcetest.State{
			Name: "dora's keys left out: the file tend created goes",
			Resources: []wire.Item{
				item(spec.KindUser, "dora", spec.User{}),
			},
			Check: func(t *testing.T) {
				if out, err := l.Enter(t, "host1", "test", "-e", "/home/dora/.ssh/authorized_keys"); err == nil {
					t.Errorf("dora's authorized_keys is still there: %s", out)
				}
				if login(t, "dora", s1) {
					t.Error("the removed key still logs in")
				}
			},
		},
	)
	if t.Failed() {
		return
	}

	// Keys of bob's own next to one tend adds: only tend's goes.
	l.Run(t, "host1", "printf '"+k3+"\\n' >> "+bobKeys)
	resourcetest.Converge(t, l, "host1",
		resourcetest.State{
			Name:      "add k1 to bob's file",
			Resources: []wire.Item{item(spec.KindAuthorizedKeys, "bob", spec.AuthorizedKeys{Keys: []string{k1, k3}})},
			Check: func(t *testing.T) {
				if got, want := cat(t, bobKeys), "# bob keys\n"+k3+"\n"+k1+"\n"; got != want {
					t.Errorf("content:\n%s\nwant:\n%s", got, want)
				}
			},
		},
		resourcetest.State{
			Name: "left out: k1 goes, bob's k3 stays",
			Check: func(t *testing.T) {
				if got, want := cat(t, bobKeys), "# bob keys\n"+k3+"\n"; got != want {
					t.Errorf("content:\n%s\nwant:\n%s", got, want)
				}
				if login(t, "bob", s1) {
					t.Error("the key tend added still logs in")
				}
			},
		},
		resourcetest.State{
			Name:      "state absent removes a key tend did not add, and keeps the file",
			Resources: []wire.Item{{ID: "authorized_keys:bob", Kind: string(spec.KindAuthorizedKeys), Name: "bob", State: wire.Absent, Spec: mustJSON(spec.AuthorizedKeys{Keys: []string{k3}})}},
			Check: func(t *testing.T) {
				if got, want := cat(t, bobKeys), "# bob keys\n"; got != want {
					t.Errorf("content:\n%s\nwant:\n%s", got, want)
				}
			},
		},
	)
	if t.Failed() {
		return
	}

	// Without tend's record of the keys it added (a tend older than it), a
	// file that existed before tend is left alone, and the plan says so.
	bob := &wire.Desired{Resources: []wire.Item{item(spec.KindAuthorizedKeys, "bob", spec.AuthorizedKeys{Keys: []string{k2}})}}
	if r := resourcetest.Run(t, l, "host1", wire.Apply, bob); r.Err != nil || r.Changed != 1 {
		t.Fatalf("apply: %d changes, err %v", r.Changed, r.Err)
	}
	l.Run(t, "host1", "rm /var/lib/tend/authorized_keys/bob")
	r := resourcetest.Run(t, l, "host1", wire.Apply, &wire.Desired{})
	if got := resourcetest.Describe(r); r.Err != nil || r.Removed != 1 || !strings.Contains(got, "tend has no record of the keys it added there: every key stays") {
		t.Fatalf("apply without bob's keys: %d removals, err %v:\n%s", r.Removed, r.Err, got)
	}
	if !login(t, "bob", s2) {
		t.Error("a key of a file tend did not create went without a record that tend added it")
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
