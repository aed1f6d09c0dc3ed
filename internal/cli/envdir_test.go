package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEnvdirProcess is not a test: run by the tests below as a separate
// process, it is `tend envdir ...`, so that the real exec replaces it.
func TestEnvdirProcess(t *testing.T) {
	if os.Getenv("TEND_TEST_ENVDIR_PROCESS") != "1" {
		t.Skip("helper process for the envdir tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	s := &session{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(s.exit(dispatch(context.Background(), s, envdirCmd(), []string{"tend"}, args)))
}

// tendEnvdir runs `tend envdir args...` in a child process with env.
func tendEnvdir(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestEnvdirProcess$", "--"}, args...)...)
	cmd.Env = append(slices.Clone(env), "TEND_TEST_ENVDIR_PROCESS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestEnvdirRunsCommand(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIA123\n",
		"AWS_SECRET_ACCESS_KEY": "s3cr3t \t\n",
		"REMOVE_ME":             "",
		"MULTI":                 "a\x00b\nignored",
		".ignored":              "x",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "REMOVE_ME=1", "KEEP=yes", "AWS_ACCESS_KEY_ID=old"}
	// "-0" must reach env, not be parsed by tend.
	stdout, stderr, code := tendEnvdir(t, base, dir, "env", "-0")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	got := map[string]int{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(stdout, "\x00"), "\x00") {
		got[kv]++
	}
	for _, want := range []string{"KEEP=yes", "AWS_ACCESS_KEY_ID=AKIA123", "AWS_SECRET_ACCESS_KEY=s3cr3t", "MULTI=a\nb"} {
		if got[want] != 1 {
			t.Errorf("env output lacks %q:\n%q", want, stdout)
		}
	}
	for kv := range got {
		if strings.HasPrefix(kv, "REMOVE_ME=") || kv == "AWS_ACCESS_KEY_ID=old" || strings.HasPrefix(kv, ".ignored") {
			t.Errorf("env output has %q", kv)
		}
	}
}

func TestEnvdirExitCodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "X"), []byte("from envdir"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"child's code passes through", []string{dir, "sh", "-c", "echo $X; exit 7"}, 7, "from envdir\n", ""},
		{"missing directory", []string{filepath.Join(dir, "nope"), "true"}, ExitEnvdir, "", "tend: error: envdir " + dir + "/nope: no such file or directory\n"},
		{"unknown command", []string{dir, "no-such-command-xyz"}, ExitEnvdir, "", `tend: error: envdir: command "no-such-command-xyz": executable file not found in $PATH` + "\n"},
		{"missing command", []string{dir}, ExitEnvdir, "", "tend: error: envdir: expected DIR CMD [ARGS...]\ntend: hint: run 'tend envdir --help' for usage\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := tendEnvdir(t, env, tt.args...)
			if code != tt.wantCode || stdout != tt.wantStdout || stderr != tt.wantStderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr %q",
					code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}
