// Package resourcetest is the convergence suite every resource kind passes,
// on a real lab host through tend's real agent over SSH: apply a series of
// desired states; after each apply a plan shows no change, and a second
// apply changes nothing.
package resourcetest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tend/internal/lab"
	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/spec"
	tssh "tend/internal/transport/ssh"
	"tend/internal/wire"
)

var (
	buildOnce sync.Once
	binary    *plan.Binary
	buildErr  error
)

// Agent builds tend once per test process (static, for the hosts) and
// returns it as the agent binary.
func Agent(t testing.TB) *plan.Binary {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tend-agent-")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(dir, "tend")
		cmd := exec.Command("go", "build", "-o", out, "tend/cmd/tend")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(b)}
			return
		}
		binary, buildErr = plan.LoadBinary(out, runtime.GOARCH)
	})
	if buildErr != nil {
		t.Fatalf("build the agent: %v", buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// Item makes a desired-state item of kind with name and fields s.
func Item(kind spec.Kind, name string, s any) wire.Item {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return wire.Item{ID: string(kind) + ":" + name, Kind: string(kind), Name: name, Spec: b}
}

// Target returns how to reach a lab host as root.
func Target(t testing.TB, l *labtest.Lab, host string, d *wire.Desired) plan.Target {
	t.Helper()
	h := l.Host(t, host)
	signer, err := lab.Signer(l.Config, l.State.Name)
	if err != nil {
		t.Fatal(err)
	}
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	return plan.Target{Name: host, Desired: d,
		SSH: tssh.Config{Host: h.Addr, Signer: signer, HostKey: hk, Timeout: 10 * time.Second}}
}

// Run runs the agent on the lab host in mode with desired state d.
func Run(t testing.TB, l *labtest.Lab, host string, mode wire.Mode, d *wire.Desired) plan.Result {
	t.Helper()
	if d.Protocol == 0 {
		d.Protocol = wire.Protocol
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rs := plan.Run(ctx, []plan.Target{Target(t, l, host, d)}, plan.Options{Mode: mode, Agent: Agent(t)})
	return rs[0]
}

// State is one desired state of a convergence series.
type State struct {
	Name      string
	Resources []wire.Item
	Handlers  []wire.Handler
	// Check, if set, asserts on the host after the state was applied.
	Check func(t *testing.T)
}

// Converge applies each state in turn to the host and checks the
// convergence rules: the first plan of a state that differs from the host
// shows changes and changes nothing; apply succeeds; the plan after it is
// empty; a second apply changes nothing.
func Converge(t *testing.T, l *labtest.Lab, host string, states ...State) {
	t.Helper()
	for _, s := range states {
		ok := t.Run(s.Name, func(t *testing.T) {
			d := &wire.Desired{Protocol: wire.Protocol, Host: host, Resources: s.Resources, Handlers: s.Handlers}
			first := Run(t, l, host, wire.Plan, d)
			if first.Err != nil {
				t.Fatalf("plan: %v", first.Err)
			}
			again := Run(t, l, host, wire.Plan, d)
			if again.Changed != first.Changed || again.Removed != first.Removed {
				t.Fatalf("a plan changed the host: %d changes and %d removals, then %d and %d", first.Changed, first.Removed, again.Changed, again.Removed)
			}
			applied := Run(t, l, host, wire.Apply, d)
			if applied.Err != nil {
				t.Fatalf("apply: %v", applied.Err)
			}
			if applied.Changed != first.Changed || applied.Removed != first.Removed {
				t.Errorf("apply changed %d resources and removed %d, the plan said %d and %d", applied.Changed, applied.Removed, first.Changed, first.Removed)
			}
			after := Run(t, l, host, wire.Plan, d)
			if after.Err != nil || after.Changed+after.Removed != 0 {
				t.Fatalf("plan after apply: %d changes, %d removals, err %v; want none:\n%s", after.Changed, after.Removed, after.Err, Describe(after))
			}
			second := Run(t, l, host, wire.Apply, d)
			if second.Err != nil || second.Changed+second.Removed != 0 {
				t.Fatalf("second apply: %d changes, %d removals, err %v; want none:\n%s", second.Changed, second.Removed, second.Err, Describe(second))
			}
			if s.Check != nil {
				s.Check(t)
			}
		})
		if !ok {
			return // later states build on this one
		}
	}
}

// Describe renders a result's changes for test messages.
func Describe(r plan.Result) string {
	var b strings.Builder
	for _, e := range r.Events {
		if e.Change != nil {
			b.WriteString(e.ID + ": " + string(e.Change.Action) + " " + e.Change.Summary() + "\n")
		}
		if e.Diag != nil {
			b.WriteString(e.ID + e.Handler + ": error: " + e.Diag.Message + "\n")
		}
	}
	return b.String()
}
