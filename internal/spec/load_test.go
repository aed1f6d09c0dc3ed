package spec

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func validate(dir string) error {
	_, _, err := Validate(dir)
	return err
}

// TestBad checks the exact errors, with their positions, for each
// malformed repository under testdata/bad; the expected text is in
// testdata/bad/CASE.golden (go test -update rewrites them).
func TestBad(t *testing.T) {
	cases, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range cases {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			err := validate(dir)
			if err == nil {
				t.Fatal("no error from an invalid repository")
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error is %T, not an ErrorList: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", golden, diff)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.Contains(line, ".yaml:") && !strings.Contains(line, ".tmpl:") &&
					!strings.HasPrefix(line, "environments") && !strings.HasPrefix(line, "roles/") && !strings.HasPrefix(line, "tend.yaml") {
					t.Errorf("error without a position: %s", line)
				}
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d malformed repositories in testdata/bad, want at least 30", n)
	}
}

// TestLoadGood checks that the example repository loads and validates.
func TestLoadGood(t *testing.T) {
	if err := validate("testdata/good"); err != nil {
		t.Fatal(err)
	}
}
