package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"tend/internal/lab"
	"tend/internal/lab/labtest"
	"tend/internal/testenv"
)

// TestMain lets testscript files run `tend` as a real command: the test
// binary re-executes itself as tend. This is the only TestMain of the
// package; add behaviours as testdata/script/*.txtar files.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tend": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs every testdata/script/*.txtar: one behaviour each.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"jsonlines": cmdJSONLines},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "lab": // the lab can run here, or must (TEND_REQUIRE_REAL=1)
				return lab.Prereqs() == nil || testenv.Required(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(e *testscript.Env) error {
			if bin, err := agentBinaryForTests(); err == nil {
				e.Setenv("TEND_AGENT_BINARY", bin)
			} else {
				return err
			}
			name := labtest.Name()
			e.Setenv("LAB", name)
			// Labs made by scripts live in the script's own folder, and go
			// down with it even when the script fails halfway.
			e.Setenv("TEND_LAB_DIR", e.WorkDir+"/labs")
			e.Defer(func() {
				c := lab.DefaultConfig(os.Getenv)
				c.StateDir = e.WorkDir + "/labs"
				lab.Down(context.Background(), c, name)
			})
			for _, k := range []string{"TEND_LAB_CACHE", "TEND_REQUIRE_REAL"} {
				if v := os.Getenv(k); v != "" {
					e.Setenv(k, v)
				}
			}
			return nil
		},
	})
}

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// agentBinaryForTests builds tend once: scripts run the test binary as
// tend, but hosts need the real binary as their agent.
func agentBinaryForTests() (string, error) {
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tend-agent-")
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, "tend")
		cmd := exec.Command("go", "build", "-o", agentPath, "tend/cmd/tend")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("build the agent: %v\n%s", err, out)
		}
	})
	return agentPath, agentErr
}
