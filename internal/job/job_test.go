package job

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRunRecords(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	os.Mkdir(env, 0o700)
	os.WriteFile(filepath.Join(env, "JOB_EXIT"), []byte("0\n"), 0o600)
	c := &Config{Name: "j", Kind: "file_backup", EnvDir: env, Args: []string{"-c", `echo ran; exit "$JOB_EXIT"`},
		MaxAge: "1h", StatusFile: filepath.Join(dir, "status", "j.json")}
	if err := Run(context.Background(), c, "/bin/sh"); err != nil {
		t.Fatalf("a succeeding job: %v", err)
	}
	st, err := read(c.StatusFile)
	if err != nil || st.LastSuccess.IsZero() || st.LastError != "" || st.Output != "ran" {
		t.Fatalf("after success: %+v, %v", st, err)
	}
	first := st.LastSuccess

	os.WriteFile(filepath.Join(env, "JOB_EXIT"), []byte("3\n"), 0o600)
	for i := 1; i <= 2; i++ {
		if err := Run(context.Background(), c, "/bin/sh"); err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("a failing job returned %v", err)
		}
		st, _ = read(c.StatusFile)
		if st.Failures != i || !st.LastSuccess.Equal(first) || st.LastError == "" {
			t.Fatalf("after failure %d: %+v", i, st)
		}
	}
	Check(&st, time.Now())
	if !strings.Contains(st.Problem, "failing for 2 runs") {
		t.Errorf("problem = %q", st.Problem)
	}

	// A missing envdir is a recorded failure, not a silent one.
	c.EnvDir = filepath.Join(dir, "missing")
	if err := Run(context.Background(), c, "/bin/sh"); err == nil {
		t.Fatal("a job with a missing envdir succeeded")
	}
	if st, _ = read(c.StatusFile); st.Failures != 3 {
		t.Errorf("failures = %d, want 3", st.Failures)
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   Status
		want string
	}{
		{"never ran", Status{MaxAge: "1h"}, "never ran"},
		{"fresh", Status{MaxAge: "1h", LastAttempt: now.Add(-time.Minute), LastSuccess: now.Add(-time.Minute)}, ""},
		{"late", Status{MaxAge: "1h", LastAttempt: now.Add(-2 * time.Hour), LastSuccess: now.Add(-2 * time.Hour)}, "late: last success 2h0m0s ago"},
		{"never succeeded", Status{MaxAge: "1h", LastAttempt: now, LastError: "boom", Failures: 4}, "never succeeded (4 runs): boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Check(&tc.st, now)
			if tc.want == "" && tc.st.Problem != "" || !strings.Contains(tc.st.Problem, tc.want) {
				t.Errorf("problem = %q, want %q", tc.st.Problem, tc.want)
			}
		})
	}
}

// TestRunsNeverOverlap: a run started while another of the same job is in
// progress is refused at once, and the job's record shows only the first.
func TestRunsNeverOverlap(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "go")
	c := &Config{Name: "j", Kind: "file_backup", Args: []string{"-c", `echo started > ` + filepath.Join(dir, "started") + `; read x < ` + fifo},
		MaxAge: "1h", StatusFile: filepath.Join(dir, "status", "j.json")}
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), c, "/bin/sh") }()
	for { // until the first run's command is running
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the first run ended early: %v", err)
		default:
		}
		runtime.Gosched()
	}
	err := Run(context.Background(), c, "/bin/sh")
	if err == nil || !strings.Contains(err.Error(), "another run is in progress (pid ") {
		t.Fatalf("a second run beside the first: %v", err)
	}
	if err := os.WriteFile(fifo, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the first run: %v", err)
	}
	st, err := read(c.StatusFile)
	if err != nil || st.Failures != 0 || st.LastSuccess.IsZero() {
		t.Errorf("the refused run was recorded: %+v, %v", st, err)
	}
	if err := Run(context.Background(), c, "/bin/true"); err != nil {
		t.Errorf("a run after the first ended: %v", err)
	}
}
