package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"

	"tend/internal/transport/ssh"
)

// runCmd runs an ad-hoc command on hosts (Ansible's `ansible HOSTS -a`).
func runCmd() *command {
	var f runFlags
	return &command{
		name:    "run",
		args:    "ENV -- CMD...",
		summary: "run a command on every selected host over tend's SSH, output grouped per host",
		help: `Runs CMD (its words joined by spaces, as one shell command line: quote a
pipe or a redirection) on each host of ENV, or those --limit names, over the
same SSH as plan and apply: the host keys pinned in the repository, the same
identity. Hosts run at once (--parallel); each host's output (standard output
and error, in the order written) is printed as one block, in the hosts'
order, under a line with the host's name and exit code, so outputs never
interleave. CMD changes nothing tend knows: the next plan shows any drift.

Exit codes: 0 when CMD exited 0 on every host, 1 when it failed or could not
run on any (each host's code is in its header line, and in --json).`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&f.repo, "repo", ".", "the infrastructure repository `DIR`")
			fs.StringVar(&f.lab, "lab", "", "run on the lab `NAME`'s hosts instead of the real ones")
			fs.StringVar(&f.limit, "limit", "", "only these `hosts or roles` (comma-separated)")
			fs.StringVar(&f.identity, "identity", "", "SSH private key `file` (default: $TEND_SSH_KEY, then the ssh-agent)")
			fs.IntVar(&f.parallel, "parallel", 10, "hosts at once")
			fs.BoolVar(&f.asJSON, "json", false, "one JSON object per host: host, exit, output, error")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) < 2 {
				return &usageError{msg: "expected an environment and a command: tend run ENV -- CMD..."}
			}
			env, cmd := args[0], strings.Join(args[1:], " ")
			_, hosts, err := reach(s, env, f)
			if err != nil {
				return err
			}
			type result struct {
				Host   string `json:"host"`
				Exit   int    `json:"exit"` // -1: it could not run
				Output string `json:"output"`
				Error  string `json:"error,omitempty"`
			}
			results := make([]result, len(hosts))
			done := make([]chan struct{}, len(hosts))
			for i := range done {
				done[i] = make(chan struct{})
			}
			var wg sync.WaitGroup
			sem := make(chan struct{}, max(f.parallel, 1))
			for i, h := range hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(done[i])
					sem <- struct{}{}
					defer func() { <-sem }()
					r := result{Host: h.Name}
					var out bytes.Buffer
					w := &lockedWriter{w: &out}
					c, err := ssh.Dial(ctx, h.SSH)
					if err == nil {
						err = c.Run(ctx, cmd, nil, w, w)
						c.Close()
					}
					var ee *ssh.ExitError
					switch {
					case errors.As(err, &ee):
						r.Exit = ee.Status
					case err != nil:
						r.Exit, r.Error = -1, err.Error()
					}
					r.Output = out.String()
					results[i] = r
				}()
			}
			// Print each host's block as soon as it and the hosts before it
			// are done: the hosts' order, no interleaving.
			failed := 0
			for i := range hosts {
				<-done[i]
				r := results[i]
				if r.Exit != 0 {
					failed++
				}
				if f.asJSON {
					b, _ := json.Marshal(r)
					s.printf("%s\n", b)
					continue
				}
				switch {
				case r.Exit == -1:
					s.printf("== %s: could not run: %s\n", r.Host, r.Error)
				default:
					s.printf("== %s: exit %d\n", r.Host, r.Exit)
				}
				if r.Output != "" {
					s.printf("%s", r.Output)
					if !strings.HasSuffix(r.Output, "\n") {
						s.printf("\n")
					}
				}
			}
			wg.Wait()
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%q failed on %d of %d hosts", cmd, failed, len(hosts))}
			}
			s.logf("%d host(s): exit 0", len(hosts))
			return nil
		},
	}
}

// lockedWriter lets a command's standard output and error, written from
// two goroutines, go into one buffer in the order they come.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
