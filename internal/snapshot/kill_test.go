package snapshot

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"tend/internal/store"
	"tend/internal/store/dir"
)

var storePut = store.PutOptions{}

// TestMain lets the kill tests re-execute the test binary as a create or
// prune that they then kill with SIGKILL.
func TestMain(m *testing.M) {
	if op := os.Getenv("TEND_SNAPSHOT_HELPER"); op != "" {
		os.Exit(helper(op))
	}
	os.Exit(m.Run())
}

func helper(op string) int {
	ctx := context.Background()
	st, err := dir.Open(os.Getenv("HELPER_STORE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wk, _ := hex.DecodeString(os.Getenv("HELPER_KEY"))
	id, err := age.ParseX25519Identity(os.Getenv("HELPER_IDENTITY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := Open(ctx, st, Keys{WriteKey: wk, Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch op {
	case "create":
		_, err = r.Create(ctx, CreateOptions{Paths: []string{os.Getenv("HELPER_SRC")}, Host: "web1", Workers: 1})
	case "prune":
		_, err = r.Prune(ctx, PruneOptions{MinAge: -1, testHook: func(step string) {
			if step == os.Getenv("HELPER_STEP") {
				fmt.Println("at", step)
				time.Sleep(time.Hour)
			}
		}})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runKilled starts the helper and kills it with SIGKILL once ready says so.
func runKilled(t *testing.T, e *env, root, op string, extra []string, ready func(out string) bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TEND_SNAPSHOT_HELPER="+op, "HELPER_STORE="+root,
		"HELPER_KEY="+hex.EncodeToString(e.keys.WriteKey), "HELPER_IDENTITY="+e.keys.Identities[0].(*age.X25519Identity).String())
	cmd.Env = append(cmd.Env, extra...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ready(out.String()) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper %s never got ready: %s", op, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("helper %s was not killed (it finished first: %v): %s", op, err, out.String())
	}
}

func TestKillDuringCreate(t *testing.T) {
	root := t.TempDir()
	st, _ := dir.Open(root)
	e := newEnv(t, st)
	src := filepath.Join(t.TempDir(), "data")
	for i := range 8 {
		write(t, filepath.Join(src, fmt.Sprintf("big%d", i)), random(20<<20), 0o644)
	}
	// Kill once at least one pack is stored, before the snapshot is.
	runKilled(t, e, root, "create", []string{"HELPER_SRC=" + src}, func(string) bool { return len(packKeys(t, st)) >= 1 })
	if sns, _ := e.admin.Snapshots(context.Background()); len(sns) != 0 {
		t.Fatalf("a killed create left %d snapshots", len(sns))
	}
	e.mustCheck()
	sn := e.create(e.host, "web1", "", src)
	e.mustCheck()
	if _, err := e.admin.Prune(context.Background(), PruneOptions{MinAge: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Prune(context.Background(), PruneOptions{MinAge: -1}); err != nil {
		t.Fatal(err)
	}
	e.mustCheck()
	out := t.TempDir()
	if _, err := e.admin.Restore(context.Background(), sn, "", out, 0); err != nil {
		t.Fatal(err)
	}
}

func TestKillDuringPrune(t *testing.T) {
	for _, step := range []string{"repacked", "indexed", "deleting"} {
		t.Run(step, func(t *testing.T) {
			root := t.TempDir()
			st, _ := dir.Open(root)
			e := newEnv(t, st)
			ctx := context.Background()
			src := filepath.Join(t.TempDir(), "data")
			write(t, filepath.Join(src, "keep"), random(300<<10), 0o644)
			write(t, filepath.Join(src, "drop"), random(300<<10), 0o644)
			old := e.create(e.host, "web1", "", src)
			os.Remove(filepath.Join(src, "drop"))
			kept := e.create(e.host, "web1", "", src)
			e.admin.Forget(ctx, []ID{old.ID})
			if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err != nil { // marks
				t.Fatal(err)
			}
			runKilled(t, e, root, "prune", []string{"HELPER_STEP=" + step}, func(out string) bool { return strings.Contains(out, "at "+step) })
			e.mustCheck()
			// The killed prune's lease blocks until it expires, then is taken over.
			if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1}); err == nil || !strings.Contains(err.Error(), "another prune holds the lease") {
				t.Errorf("prune right after a killed prune: %v", err)
			}
			later := func() time.Time { return time.Now().Add(LeaseTTL + time.Minute) }
			for range 2 {
				if _, err := e.admin.Prune(ctx, PruneOptions{MinAge: -1, leaseNow: later}); err != nil {
					t.Fatal(err)
				}
			}
			e.create(e.host, "web1", "", src)
			e.mustCheck()
			out := t.TempDir()
			if _, err := e.admin.Restore(ctx, kept, "", out, 0); err != nil {
				t.Fatal(err)
			}
			if res, _ := e.admin.Prune(ctx, PruneOptions{MinAge: -1, DryRun: true}); res.MarkedBlobs+res.MarkedPacks+res.DeletedBlobs+res.OrphanPacks != 0 {
				t.Errorf("garbage left after two prunes: %+v", res)
			}
		})
	}
}
