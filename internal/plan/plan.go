// Package plan is tend's engine on the control machine: for each host it
// connects over one SSH connection, makes sure tend's agent binary is there
// (uploaded once per version, by content hash), sends the host's whole
// desired state in one session and collects the agent's events. Hosts run
// in parallel up to a bound; one host failing does not stop the others.
// The engine reports through a callback and never prints.
package plan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"tend/internal/hint"
	"tend/internal/snapkey"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
	"tend/internal/wire"
)

// AgentDir is where the agent binaries live on a host.
const AgentDir = "/var/lib/tend/agent"

// Binary is the tend binary uploaded to hosts as the agent.
type Binary struct {
	Path string
	Hash string // hex SHA-256 of the file
	Arch string // GOARCH it runs on
}

// LoadBinary hashes the binary at path, built for GOARCH arch.
func LoadBinary(path, arch string) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("agent binary %s: %w", path, err)
	}
	return &Binary{Path: path, Hash: hex.EncodeToString(h.Sum(nil)), Arch: arch}, nil
}

// Self is the running tend binary, the agent by default.
func Self() (*Binary, error) {
	p, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return LoadBinary(p, runtime.GOARCH)
}

// remotePath is where a binary lives on hosts: one file per version.
func (b *Binary) remotePath() string { return AgentDir + "/tend-" + b.Hash[:16] }

// Desired builds the desired state of a compiled host, as the agent reads
// it.
func Desired(h *spec.Host) (*wire.Desired, error) {
	d := &wire.Desired{Protocol: wire.Protocol, Host: h.Name, RemovePackages: h.RemoveUnmanagedPackages}
	for _, r := range h.Resources {
		sp, sensitive, err := hostSpec(h.Name, r)
		if err != nil {
			return nil, fmt.Errorf("host %s: %s: %w", h.Name, r.ID, err)
		}
		b, err := json.Marshal(sp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.ID, err)
		}
		it := wire.Item{ID: r.ID, Kind: string(r.Kind), Name: r.Name, Notify: r.Notify, Sensitive: r.Sensitive || sensitive, DeleteData: r.DeleteData, Spec: b}
		if r.State == spec.StateAbsent {
			it.State = wire.Absent
		}
		d.Resources = append(d.Resources, it)
	}
	for _, hd := range h.Handlers {
		d.Handlers = append(d.Handlers, wire.Handler{Name: hd.Name, Service: hd.Service, Action: hd.Action, Command: hd.Command})
	}
	return d, nil
}

// hostSpec is r's spec as it is sent to host: a file_backup's write key
// becomes the host key of that host (see package snapkey), so the write
// key, which could sign snapshots in any host's name, never leaves the
// controller. sensitive: the spec now holds a secret.
func hostSpec(host string, r *spec.Resource) (any, bool, error) {
	fb, ok := r.Spec.(*spec.FileBackup)
	if !ok {
		return r.Spec, false, nil
	}
	w, err := hex.DecodeString(fb.Key)
	if err != nil || len(w) != snapkey.Size {
		return r.Spec, false, nil // a placeholder (no secrets given), or refused by the spec check
	}
	hk, err := snapkey.ForHost(w, host)
	if err != nil {
		return nil, false, hint.Wrap(fmt.Errorf("snapshots record the host's name: %w", err),
			"rename the host to a lower-case host name (letters, digits, '-' and dots), or back it up by another host's file_backup")
	}
	c := *fb
	c.Key = hk.Encode()
	return &c, true, nil
}

// Target is one host to converge.
type Target struct {
	Name    string
	SSH     ssh.Config
	Desired *wire.Desired
	// Rebuild, when the spec uses facts, compiles the host again with
	// the facts its probe gathered; Desired was compiled with placeholder
	// facts, to find spec errors before any host is contacted.
	Rebuild func(facts map[string]any) (*wire.Desired, error)
}

// Options tune a run.
type Options struct {
	Mode     wire.Mode
	Agent    *Binary
	Parallel int // hosts at once; default 10
	// Serial, when above 0, converges the targets in batches of Serial
	// hosts, in order, and stops after the first batch in which a host
	// failed: the later hosts are not touched (their results say so).
	Serial   int
	Progress func(host string, e wire.Event) // called for every event, from many goroutines
}

// Result is what happened on one host.
type Result struct {
	Host     string        `json:"host"`
	Events   []wire.Event  `json:"events"`  // resource and handler events, in order
	Changed  int           `json:"changed"` // resources changed (apply) or to change (plan)
	Removed  int           `json:"removed"` // resources removed (apply) or to remove (plan)
	Total    int           `json:"total"`   // resources and removals gone through
	Uploaded bool          `json:"uploaded,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Err      error         `json:"-"`
	// Diag is what failed, with its hint and resource, as the agent said
	// it (or the controller, for a host it could not reach).
	Diag *wire.Diagnostic `json:"diag,omitempty"`
}

// Unchanged counts the resources that were in sync.
func (r *Result) Unchanged() int {
	n := 0
	for _, e := range r.Events {
		if e.Type == wire.EventResource && e.Change == nil && e.Diag == nil {
			n++
		}
	}
	return n
}

// Changes returns the resource events that carry a change.
func (r *Result) Changes() []wire.Event {
	var out []wire.Event
	for _, e := range r.Events {
		if e.Type == wire.EventResource && e.Change != nil || e.Type == wire.EventHandler {
			out = append(out, e)
		}
	}
	return out
}

// Run converges (or plans) every target and returns one result per target,
// in the targets' order.
func Run(ctx context.Context, targets []Target, opts Options) []Result {
	if opts.Parallel <= 0 {
		opts.Parallel = 10
	}
	results := make([]Result, len(targets))
	batch := len(targets)
	if opts.Serial > 0 {
		batch = opts.Serial
	}
	for from := 0; from < len(targets); from += batch {
		to := min(from+batch, len(targets))
		eachHost(to-from, opts.Parallel, func(i int) {
			i += from
			start := time.Now()
			results[i] = runHost(ctx, targets[i], opts)
			results[i].Elapsed = time.Since(start)
			if results[i].Err != nil && results[i].Diag == nil {
				results[i].Diag = wire.Diag("", results[i].Err)
			}
		})
		var failed []string
		for _, r := range results[from:to] {
			if r.Err != nil {
				failed = append(failed, r.Host)
			}
		}
		if len(failed) == 0 {
			continue
		}
		for i := to; i < len(targets); i++ {
			err := fmt.Errorf("host %s: not started: %s failed in an earlier batch (--serial %d stops at the first failed batch)", targets[i].Name, strings.Join(failed, ", "), opts.Serial)
			results[i] = Result{Host: targets[i].Name, Err: err, Diag: wire.Diag("", err)}
		}
		break
	}
	return results
}

// eachHost calls fn(0) to fn(n-1), at most parallel at once, and returns
// when all returned.
func eachHost(n, parallel int, fn func(i int)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

func runHost(ctx context.Context, t Target, opts Options) Result {
	res := Result{Host: t.Name}
	fail := func(err error) Result {
		res.Err = fmt.Errorf("host %s: %w", t.Name, err)
		return res
	}
	c, err := ssh.Dial(ctx, t.SSH)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	up, facts, err := ensureAgent(ctx, c, opts.Agent, t.Rebuild != nil)
	if err != nil {
		return fail(err)
	}
	res.Uploaded = up
	if t.Rebuild != nil {
		// The spec uses facts: compile the host again with its own.
		d, err := t.Rebuild(facts)
		if err != nil {
			return fail(err)
		}
		d.Expect = t.Desired.Expect
		t.Desired = d
	}
	in, err := json.Marshal(t.Desired)
	if err != nil {
		return fail(err)
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	runErr := make(chan error, 1)
	go func() {
		err := c.Run(ctx, opts.Agent.remotePath()+" agent "+string(opts.Mode), bytes.NewReader(in), pw, &stderr)
		pw.CloseWithError(err)
		runErr <- err
	}()
	var done *wire.Event
	var failed *wire.Diagnostic // the first resource or handler that failed
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e wire.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // not an event: ignore, stderr tells
		}
		if opts.Progress != nil {
			opts.Progress(t.Name, e)
		}
		switch e.Type {
		case wire.EventDone:
			done = &e
			continue
		case wire.EventBegin:
			res.Total = e.Total
			continue
		case wire.EventStart:
			continue
		}
		if e.Diag != nil && failed == nil {
			failed = e.Diag
		}
		res.Events = append(res.Events, e)
	}
	io.Copy(io.Discard, pr)
	err = <-runErr
	switch {
	case done == nil && err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return fail(fmt.Errorf("agent: %w", err))
	case done == nil:
		return fail(errors.New("agent ended without reporting"))
	}
	res.Changed, res.Removed = done.Changed, done.Removed
	if err := confirmFirewall(ctx, t, opts, res.Events); err != nil {
		res.Diag = &wire.Diagnostic{Message: "host " + t.Name + ": " + err.Error(), Hint: hint.Of(err), Resource: string(spec.KindFirewall) + ":" + spec.FirewallName}
		res.Err = res.Diag.Err()
		return res
	}
	if done.Failed {
		d := done.Diag
		if d == nil {
			d = &wire.Diagnostic{Message: "the run failed"}
		}
		if failed != nil && d.Hint == "" {
			d.Hint = failed.Hint
		}
		if d.Resource == "" && failed != nil {
			d.Resource = failed.Resource
		}
		res.Diag = &wire.Diagnostic{Message: "host " + t.Name + ": " + d.Message, Hint: d.Hint, Resource: d.Resource}
		res.Err = res.Diag.Err()
		return res
	}
	return res
}

// ensureAgent makes sure this binary is on the host, uploading it when it is
// not: to a temporary file, checked against its hash, then renamed, so a
// broken upload never runs. It reports whether it uploaded, and, when
// facts is true, the host's facts, which the same probe gathers
// (spec.Facts).
func ensureAgent(ctx context.Context, c *ssh.Client, b *Binary, facts bool) (bool, map[string]any, error) {
	path := b.remotePath()
	out, err := c.Output(ctx, probe(path, facts))
	if err != nil {
		return false, nil, fmt.Errorf("probe: %w", err)
	}
	p := parseProbe(out)
	if p.machine == "" {
		return false, nil, errors.New("probe: no answer from uname")
	}
	if arch := goarch(p.machine); arch != b.Arch {
		return false, nil, hint.New(fmt.Sprintf("the host is %s (%s) but the agent binary is built for %s", p.machine, arch, b.Arch),
			fmt.Sprintf("build tend for it (GOOS=linux GOARCH=%s CGO_ENABLED=0 go build ./cmd/tend) and run that tend", arch))
	}
	if p.present {
		return false, p.facts, nil
	}
	f, err := os.Open(b.Path)
	if err != nil {
		return false, nil, err
	}
	defer f.Close()
	// A name of its own per upload: two controllers uploading at once
	// never write into one file, and a failed upload leaves nothing.
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return false, nil, err
	}
	tmp := fmt.Sprintf("%s.upload-%x", path, nonce)
	cmd := fmt.Sprintf("set -e; umask 077; mkdir -p %s; trap 'rm -f %s' EXIT; cat > %s; echo '%s  %s' | sha256sum -c --quiet -; chmod 0755 %s; mv -f %s %s",
		AgentDir, tmp, tmp, b.Hash, tmp, tmp, tmp, path)
	var errb bytes.Buffer
	if err := c.Run(ctx, cmd, f, io.Discard, &errb); err != nil {
		return false, nil, fmt.Errorf("upload agent: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	return true, p.facts, nil
}

// goarch maps uname -m to a GOARCH.
func goarch(m string) string {
	switch m {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i686", "i386":
		return "386"
	case "armv7l", "armv6l":
		return "arm"
	}
	return m
}

// Summary counts a run's results.
type Summary struct {
	Hosts   int `json:"hosts"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
	Failed  int `json:"failed"`
}

// Summarize counts results.
func Summarize(rs []Result) Summary {
	s := Summary{Hosts: len(rs)}
	for _, r := range rs {
		s.Changed += r.Changed
		s.Removed += r.Removed
		if r.Err != nil {
			s.Failed++
		}
	}
	return s
}

// Exec runs "tend agent ARGS" on one host, uploading the agent first when
// the host lacks this version, with stdin as the agent's input. Used for
// one-off operations such as backups and restores.
func Exec(ctx context.Context, cfg ssh.Config, b *Binary, args string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := ssh.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, _, err := ensureAgent(ctx, c, b, false); err != nil {
		return err
	}
	return c.Run(ctx, b.remotePath()+" agent "+args, stdin, stdout, stderr)
}
