// Package labtest gives tests fresh lab hosts: real Debian machines reached
// over real SSH, torn down when the test ends. When the lab cannot start (not
// root, tools missing) the test is skipped, or fails when TEND_REQUIRE_REAL=1.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"tend/internal/lab"
	"tend/internal/testenv"
	"tend/internal/transport/ssh"
)

// Lab is a lab booted for one test.
type Lab struct {
	Config lab.Config
	State  *lab.State

	mu      sync.Mutex
	clients map[string]*ssh.Client
}

// New boots n hosts, host1..hostN, from the default root, and removes them
// when the test ends.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	var hosts []string
	for i := 1; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf("host%d", i))
	}
	return NewWith(t, lab.Options{Hosts: hosts})
}

// NewWith boots a lab with the given options; empty package lists mean the
// defaults, so that every test shares one cached root.
func NewWith(t testing.TB, opts lab.Options) *Lab {
	t.Helper()
	testenv.Need(t, "the lab (root, debootstrap, systemd-nspawn)", lab.Prereqs())
	if opts.Packages == nil {
		opts.Packages = lab.DefaultPackages
	}
	if opts.RepoPackages == nil {
		opts.RepoPackages = lab.DefaultRepoPackages
	}
	l := &Lab{Config: Config(t), clients: map[string]*ssh.Client{}}
	name := Name()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	st, err := lab.Up(ctx, l.Config, name, opts)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	l.State = st
	t.Cleanup(func() {
		l.mu.Lock()
		for _, c := range l.clients {
			c.Close()
		}
		l.mu.Unlock()
		if _, err := lab.Down(context.Background(), l.Config, name); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// Config is the lab configuration tests use: the machine's defaults (or
// TEND_LAB_DIR, TEND_LAB_CACHE), with progress in the test log.
func Config(t testing.TB) lab.Config {
	c := lab.DefaultConfig(os.Getenv)
	c.Log = logWriter{t}
	return c
}

// Name returns a fresh lab name, unique among concurrent test runs.
func Name() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Host returns the named host, failing the test if there is none.
func (l *Lab) Host(t testing.TB, name string) *lab.Host {
	t.Helper()
	h := l.State.Host(name)
	if h == nil {
		t.Fatalf("lab %s has no host %s", l.State.Name, name)
	}
	return h
}

// Client returns an SSH connection to the host, made once per test lab.
func (l *Lab) Client(t testing.TB, name string) *ssh.Client {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.clients[name]; ok {
		return c
	}
	c, err := lab.Dial(context.Background(), l.Config, l.State, l.Host(t, name))
	if err != nil {
		t.Fatalf("ssh %s: %v", name, err)
	}
	l.clients[name] = c
	return c
}

// Run runs a shell command on the host over SSH and returns its output,
// failing the test when it fails.
func (l *Lab) Run(t testing.TB, host, cmd string) string {
	t.Helper()
	out, err := l.Client(t, host).Output(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v", host, cmd, err)
	}
	return out
}

// MustEnter is Enter that fails the test when the command fails, and
// returns its output.
func (l *Lab) MustEnter(t testing.TB, host string, args ...string) string {
	t.Helper()
	out, err := l.Enter(t, host, args...)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", host, strings.Join(args, " "), err, out)
	}
	return out
}

// Enter runs a command inside the host's namespaces with nsenter, without
// SSH: for assertions that must not depend on what is being tested.
func (l *Lab) Enter(t testing.TB, host string, args ...string) (string, error) {
	t.Helper()
	pid, err := l.Host(t, host).InitPID()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-m", "-u", "-i", "-n", "-p", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
