// Package testenv decides what a test does when a real component it needs
// (the lab, an S3 server, PostgreSQL...) is not available: skip on a
// developer's machine, fail when TEND_REQUIRE_REAL=1 (as `make test` and CI
// set it), so that a missing component can never pass silently.
package testenv

import (
	"os"
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
