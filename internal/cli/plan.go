package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"tend/internal/hint"
	"tend/internal/lab"
	"tend/internal/plan"
	"tend/internal/secret"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
	"tend/internal/wire"
)

// runFlags are the flags plan and apply share.
type runFlags struct {
	repo, lab, limit, identity string
	parallel                   int
	asJSON                     bool
}

func (f *runFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.repo, "repo", ".", "the infrastructure repository `DIR`")
	fs.StringVar(&f.lab, "lab", "", "run against the lab `NAME` (booted with tend lab up --from DIR --env ENV) instead of the real hosts")
	fs.StringVar(&f.limit, "limit", "", "only these `hosts or roles` (comma-separated)")
	fs.StringVar(&f.identity, "identity", "", "SSH private key `file` (default: $TEND_SSH_KEY, then the ssh-agent)")
	fs.IntVar(&f.parallel, "parallel", 10, "hosts converged at once")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
}

func planCmd() *command {
	var f runFlags
	var out string
	return &command{
		name:    "plan",
		args:    "ENV",
		summary: "show what apply would change on each host, changing nothing",
		help: `Connects to each host of ENV over SSH, compares it with the repository and
prints per host and resource what would change: + create, ~ update, - delete,
a unified diff for file contents, "(sensitive value changed)" for secrets.

Exit codes: 0 nothing to change, 3 changes pending (for drift checks in CI),
1 a host failed, 2 invalid spec. --out saves the plan for apply --plan.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&out, "out", "", "save the plan to `FILE`, for tend apply --plan FILE")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			rs, err := converge(ctx, s, args[0], f, wire.Plan)
			if err != nil {
				return err
			}
			if out != "" {
				if err := savePlan(out, args[0], rs); err != nil {
					return err
				}
			}
			if err := report(s, args[0], rs, wire.Plan, f.asJSON); err != nil {
				return err
			}
			if sum := plan.Summarize(rs); sum.Changed+sum.Removed > 0 {
				return &exitError{code: ExitChanges}
			}
			return nil
		},
	}
}

func applyCmd() *command {
	var f runFlags
	var saved string
	return &command{
		name:    "apply",
		args:    "ENV",
		summary: "converge every host of ENV to the repository",
		help: `Converges each host in one SSH session: tend uploads itself as the agent
(once per version), sends the host's desired state, and the agent converges
it in order, firing handlers once at the end. One host failing does not stop
the others; the exit code is 1 when any failed.

With --plan FILE, apply first checks that the hosts would still change
exactly as the saved plan says, and refuses a stale plan.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&saved, "plan", "", "apply only if the hosts still match the plan saved in `FILE`")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			if saved != "" {
				want, err := loadPlan(saved, args[0])
				if err != nil {
					return err
				}
				now, err := converge(ctx, s, args[0], f, wire.Plan)
				if err != nil {
					return err
				}
				if err := samePlan(want, planOf(args[0], now)); err != nil {
					return hint.Wrap(fmt.Errorf("the saved plan %s is stale: %w", saved, err),
						"the hosts or the repository changed since it was made: run tend plan again")
				}
			}
			rs, err := converge(ctx, s, args[0], f, wire.Apply)
			if err != nil {
				return err
			}
			return report(s, args[0], rs, wire.Apply, f.asJSON)
		},
	}
}

// converge prepares every host of env and runs the agent on them in mode.
func converge(ctx context.Context, s *session, env string, f runFlags, mode wire.Mode) ([]plan.Result, error) {
	targets, err := prepare(ctx, s, env, f)
	if err != nil {
		return nil, err
	}
	bin, err := agentBinary(s)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	start := time.Now()
	progress := func(host string, e wire.Event) {
		if e.Type != wire.EventDone {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		state := "ok"
		if e.Failed {
			state = "failed"
		}
		s.logf("%s: %s, %d change(s) (%s)", host, state, e.Changed, time.Since(start).Round(10*time.Millisecond))
	}
	return plan.Run(ctx, targets, plan.Options{Mode: mode, Agent: bin, Parallel: f.parallel, Progress: progress}), nil
}

// agentBinary is the tend binary to upload: $TEND_AGENT_BINARY, else this one.
func agentBinary(s *session) (*plan.Binary, error) {
	if p := s.getenv("TEND_AGENT_BINARY"); p != "" {
		return plan.LoadBinary(p, runtime.GOARCH)
	}
	return plan.Self()
}

// prepare loads, checks and compiles the repository for env and says how to
// reach each host.
func prepare(ctx context.Context, s *session, env string, f runFlags) ([]plan.Target, error) {
	repo, err := spec.Load(f.repo)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	e := repo.Environments[env]
	if e == nil {
		return nil, &exitError{code: ExitUsage, err: hint.New(fmt.Sprintf("no environment %q in %s", env, f.repo),
			"environments are: "+strings.Join(repo.EnvironmentNames(), ", "))}
	}
	if err := spec.CheckParity(repo, env); err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	secrets, err := loadSecrets(s, repo.Dir, e)
	if err != nil {
		return nil, err
	}
	hosts, err := selectHosts(e, f.limit)
	if err != nil {
		return nil, err
	}
	var labState *lab.State
	var labCfg lab.Config
	if f.lab != "" {
		labCfg = lab.DefaultConfig(s.getenv)
		if labState, err = lab.Load(labCfg, f.lab); err != nil {
			return nil, err
		}
	}
	var signer gossh.Signer
	var known *ssh.KnownHosts
	if labState == nil {
		if signer, err = clientKey(s, f.identity); err != nil {
			return nil, err
		}
		if known, err = ssh.LoadKnownHosts(filepath.Join(repo.Dir, "known_hosts")); err != nil {
			return nil, err
		}
	}
	var targets []plan.Target
	for _, hd := range hosts {
		h, err := repo.Compile(env, hd.Name, secrets)
		if err != nil {
			return nil, &exitError{code: ExitUsage, err: err}
		}
		d, err := plan.Desired(h)
		if err != nil {
			return nil, err
		}
		t := plan.Target{Name: h.Name, Desired: d}
		if labState != nil {
			lh := labState.Host(h.Name)
			if lh == nil {
				return nil, hint.New(fmt.Sprintf("lab %s has no host %s", f.lab, h.Name),
					fmt.Sprintf("boot the environment's hosts: tend lab up --lab %s --from %s --env %s", f.lab, f.repo, env))
			}
			ls, err := lab.Signer(labCfg, f.lab)
			if err != nil {
				return nil, err
			}
			hk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(lh.HostKey))
			if err != nil {
				return nil, err
			}
			t.SSH = ssh.Config{Host: lh.Addr, Signer: ls, HostKey: hk}
		} else {
			port := h.SSH.Port
			if port == 0 {
				port = 22
			}
			hk := known.Lookup(h.Address, port)
			if hk == nil {
				return nil, hint.New(fmt.Sprintf("host %s (%s): no pinned host key in %s", h.Name, h.Address, known.Path),
					fmt.Sprintf("check its fingerprint, then record it: tend host trust %s %s", env, h.Name))
			}
			t.SSH = ssh.Config{Host: h.Address, Port: port, User: h.SSH.User, Signer: signer, HostKey: hk}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// loadSecrets decrypts the environment's secrets when it maps any.
func loadSecrets(s *session, dir string, e *spec.Environment) (map[string]string, error) {
	out := map[string]string{}
	if len(e.Secrets) == 0 {
		return out, nil
	}
	path, err := secret.Path(dir, e.Name)
	if err != nil {
		return nil, err
	}
	file, err := secret.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		ref := e.Secrets[0]
		return nil, hint.Wrap(fmt.Errorf("%s: environment %s maps secret %s, but secret file %s does not exist", ref.Pos, e.Name, ref.Secret, path),
			fmt.Sprintf("create it with the first secret: tend secret set %s %s", e.Name, ref.Secret))
	}
	if err != nil {
		return nil, err
	}
	ids, err := secret.Identities(s.getenv)
	if err != nil {
		return nil, err
	}
	vals, err := file.Decrypt(ids)
	if err != nil {
		return nil, err
	}
	for name, v := range vals {
		out[name] = v.Reveal()
	}
	return out, nil
}

// selectHosts returns the environment's hosts matching a --limit list of
// host names and role names (all hosts when empty).
func selectHosts(e *spec.Environment, limit string) ([]*spec.HostDecl, error) {
	if limit == "" {
		return e.Hosts, nil
	}
	want := splitList(limit)
	used := map[string]bool{}
	var out []*spec.HostDecl
	for _, h := range e.Hosts {
		match := false
		for _, w := range want {
			if h.Name == w || slices.Contains(h.Roles, w) {
				match, used[w] = true, true
			}
		}
		if match {
			out = append(out, h)
		}
	}
	for _, w := range want {
		if !used[w] {
			return nil, &usageError{msg: fmt.Sprintf("--limit: %q is neither a host nor a role of %s", w, e.Name)}
		}
	}
	return out, nil
}

// clientKey returns the SSH key tend logs in with: --identity, then
// $TEND_SSH_KEY (the key itself, for CI), then the first key of ssh-agent.
func clientKey(s *session, identity string) (gossh.Signer, error) {
	if identity != "" {
		b, err := os.ReadFile(identity)
		if err != nil {
			return nil, err
		}
		k, err := gossh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("--identity %s: %w", identity, err)
		}
		return k, nil
	}
	if k := s.getenv("TEND_SSH_KEY"); k != "" {
		sg, err := gossh.ParsePrivateKey([]byte(k))
		if err != nil {
			return nil, hint.Wrap(errors.New("TEND_SSH_KEY does not hold a private key"), "set it to the content of an unencrypted OpenSSH private key")
		}
		return sg, nil
	}
	if sock := s.getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			signers, err := agent.NewClient(conn).Signers()
			if err == nil && len(signers) > 0 {
				return signers[0], nil
			}
		}
	}
	return nil, hint.New("no SSH key to log in with", "give --identity FILE, set TEND_SSH_KEY, or load a key into ssh-agent")
}

// report prints the results, human or JSON, and returns an error when a
// host failed.
func report(s *session, env string, rs []plan.Result, mode wire.Mode, asJSON bool) error {
	sum := plan.Summarize(rs)
	if asJSON {
		out := struct {
			Env     string        `json:"env"`
			Mode    wire.Mode     `json:"mode"`
			Hosts   []plan.Result `json:"hosts"`
			Summary plan.Summary  `json:"summary"`
		}{env, mode, rs, sum}
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, r := range rs {
			renderHost(s.stdout, r, mode)
		}
		verb := "to change"
		if mode == wire.Apply {
			verb = "changed"
		}
		s.printf("%s: %d resource(s) %s on %d host(s), %d host(s) failed\n", strings.ToUpper(string(mode[:1]))+string(mode[1:]), sum.Changed, verb, sum.Hosts, sum.Failed)
	}
	if sum.Failed > 0 {
		var errs, hints []string
		for _, r := range rs {
			if r.Err != nil {
				errs = append(errs, r.Err.Error())
				if h := hint.Of(r.Err); h != "" && !slices.Contains(hints, h) {
					hints = append(hints, h)
				}
			}
		}
		err := fmt.Errorf("%d of %d host(s) failed:\n%s", sum.Failed, sum.Hosts, strings.Join(errs, "\n"))
		if len(hints) > 0 {
			return hint.Wrap(err, strings.Join(hints, "\n"))
		}
		return err
	}
	return nil
}

func renderHost(w io.Writer, r plan.Result, mode wire.Mode) {
	fmt.Fprintf(w, "host %s:\n", r.Host)
	inSync := 0
	for _, e := range r.Events {
		switch {
		case e.Type == wire.EventHandler:
			what := "would run"
			if e.Applied {
				what = "ran"
			}
			if e.Diag != nil {
				what = "failed: " + e.Diag.Message
			}
			fmt.Fprintf(w, "  ! handler %s %s\n", e.Handler, what)
		case e.Diag != nil:
			fmt.Fprintf(w, "  x %s: %s\n", e.ID, e.Diag.Message)
		case e.Change == nil:
			inSync++
		default:
			sign := map[wire.Action]string{wire.Create: "+", wire.Update: "~", wire.Delete: "-", wire.Run: ">", wire.Keep: "=", wire.Pending: "!"}[e.Change.Action]
			what := e.ID
			if e.Removal {
				what += " (removal)"
				if e.Change.Action == wire.Keep {
					what += " left on the host:"
				}
			}
			fmt.Fprintf(w, "  %s %s  %s\n", sign, what, e.Change.Summary())
			if e.Change.Diff != "" {
				for _, l := range strings.Split(strings.TrimRight(e.Change.Diff, "\n"), "\n") {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
	if inSync > 0 {
		fmt.Fprintf(w, "  = %d resource(s) in sync\n", inSync)
	}
	if r.Err != nil && len(r.Events) == 0 {
		fmt.Fprintf(w, "  x %s\n", r.Err)
	}
}

// savedPlan is what plan --out writes: per host, a fingerprint of every
// change. It holds no secret: sensitive changes are redacted on the host.
type savedPlan struct {
	Version int                 `json:"version"`
	Env     string              `json:"env"`
	Hosts   map[string][]string `json:"hosts"` // host -> "id action fingerprint"
	Results []plan.Result       `json:"results"`
}

func planOf(env string, rs []plan.Result) *savedPlan {
	p := &savedPlan{Version: 1, Env: env, Hosts: map[string][]string{}, Results: rs}
	for _, r := range rs {
		fps := []string{}
		for _, e := range r.Changes() {
			b, _ := json.Marshal(e.Change)
			sum := sha256.Sum256(b)
			fps = append(fps, fmt.Sprintf("%s%s %s", e.ID, e.Handler, hex.EncodeToString(sum[:8])))
		}
		if r.Err != nil {
			fps = append(fps, "failed: "+r.Err.Error())
		}
		p.Hosts[r.Host] = fps
	}
	return p
}

func savePlan(path, env string, rs []plan.Result) error {
	b, err := json.MarshalIndent(planOf(env, rs), "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadPlan(path, env string) (*savedPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p savedPlan
	if err := json.Unmarshal(b, &p); err != nil || p.Version != 1 {
		return nil, fmt.Errorf("%s: not a plan saved by tend plan --out", path)
	}
	if p.Env != env {
		return nil, fmt.Errorf("%s is a plan for %s, not %s", path, p.Env, env)
	}
	return &p, nil
}

// samePlan says where two plans differ, or nil.
func samePlan(want, got *savedPlan) error {
	var diffs []string
	for host, w := range want.Hosts {
		if g, ok := got.Hosts[host]; !ok {
			diffs = append(diffs, "host "+host+" is no longer part of the run")
		} else if !slices.Equal(w, g) {
			diffs = append(diffs, "host "+host+": the changes differ")
		}
	}
	for host := range got.Hosts {
		if _, ok := want.Hosts[host]; !ok {
			diffs = append(diffs, "host "+host+" was not in the plan")
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}
