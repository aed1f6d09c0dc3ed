package plan_test

import (
	"context"
	"strings"
	"testing"

	"tend/internal/hint"
	"tend/internal/lab/labtest"
	"tend/internal/plan"
	"tend/internal/resource/resourcetest"
	"tend/internal/wire"
)

// TestAgentUpload: the agent is uploaded once per version and reused; a
// host of another architecture is refused with how to build for it.
func TestAgentUpload(t *testing.T) {
	l := labtest.New(t, 1)
	bin := resourcetest.Agent(t)
	d := &wire.Desired{Protocol: wire.Protocol}
	run := func(b *plan.Binary) plan.Result {
		return plan.Run(context.Background(), []plan.Target{resourcetest.Target(t, l, "host1", d)}, plan.Options{Mode: wire.Plan, Agent: b})[0]
	}
	if r := run(bin); r.Err != nil || !r.Uploaded {
		t.Fatalf("first run: uploaded %v, err %v", r.Uploaded, r.Err)
	}
	if r := run(bin); r.Err != nil || r.Uploaded {
		t.Fatalf("second run: uploaded %v, err %v; want the agent reused", r.Uploaded, r.Err)
	}
	if out := l.Run(t, "host1", "ls /var/lib/tend/agent"); out != "tend-"+bin.Hash[:16]+"\n" {
		t.Errorf("agent folder: %q", out)
	}
	other := *bin
	other.Arch = "arm64"
	r := run(&other)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "host host1: the host is x86_64 (amd64) but the agent binary is built for arm64") ||
		!strings.Contains(hint.Of(r.Err), "GOARCH=amd64") {
		t.Errorf("another architecture: %v (hint %q)", r.Err, hint.Of(r.Err))
	}
}
