// Package testenv decides what a test does when a real component it needs
// (the lab, an S3 server, PostgreSQL...) is not available: skip on a
// developer's machine, fail when TEND_REQUIRE_REAL=1 (as `make test` and CI
// set it), so that a missing component can never pass silently.
package testenv

import (
	"bytes"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Required reports whether real components are required (TEND_REQUIRE_REAL=1).
func Required() bool { return os.Getenv("TEND_REQUIRE_REAL") == "1" }

// Need stops the test when err (the failure to get a real component named
// what) is not nil: t.Fatal when real components are required, t.Skip otherwise.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if Required() {
		t.Fatalf("%s is required (TEND_REQUIRE_REAL=1) but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable (set TEND_REQUIRE_REAL=1 to fail instead): %v", what, err)
}

// GoBinary finds a program that scripts/deps installs with go install: on
// PATH, or in $GOBIN (default $GOPATH/bin).
func GoBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gobin = filepath.Join(build.Default.GOPATH, "bin")
	}
	p := filepath.Join(gobin, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is neither on PATH nor in %s", name, gobin)
	}
	return p, nil
}

// FreePort returns a TCP port free on host now, for a server a test starts.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Output collects what a server a test started prints on its two streams.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
