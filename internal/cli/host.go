package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"tend/internal/hint"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
)

func hostCmd() *command {
	return &command{
		name:    "host",
		summary: "manage what tend knows of hosts",
		subs:    []*command{hostTrustCmd()},
	}
}

func hostTrustCmd() *command {
	var repo string
	var yes bool
	return &command{
		name:    "trust",
		args:    "ENV [HOST...]",
		summary: "record the SSH host keys of hosts in the repository",
		help: `Connects to each host (all of ENV by default), prints the fingerprint of the
key it presents and records it in known_hosts at the top of the repository.
plan and apply refuse a host whose key is not recorded, or differs. Compare the
fingerprints with the ones your provider's console shows before committing.
A key already recorded and different is only replaced with --replace.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&repo, "repo", ".", "the infrastructure repository `DIR`")
			fs.BoolVar(&yes, "replace", false, "replace keys already recorded that differ (a rebuilt host)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, -1, "an environment, then optionally host names"); err != nil {
				return err
			}
			r, err := spec.Load(repo)
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			e := r.Environments[args[0]]
			if e == nil {
				return &usageError{msg: fmt.Sprintf("no environment %q", args[0])}
			}
			hosts := e.Hosts
			if len(args) > 1 {
				hosts = nil
				for _, n := range args[1:] {
					h := e.Host(n)
					if h == nil {
						return &usageError{msg: fmt.Sprintf("environment %s has no host %q", e.Name, n)}
					}
					hosts = append(hosts, h)
				}
			}
			known, err := ssh.LoadKnownHosts(filepath.Join(r.Dir, "known_hosts"))
			if err != nil {
				return err
			}
			for _, h := range hosts {
				c, err := r.Compile(e.Name, h.Name, nil)
				if err != nil {
					return &exitError{code: ExitUsage, err: err}
				}
				port := c.SSH.Port
				if port == 0 {
					port = 22
				}
				key, err := ssh.FetchHostKey(ctx, c.Address, port, 10*time.Second)
				if err != nil {
					return fmt.Errorf("host %s: %w", h.Name, err)
				}
				fp := gossh.FingerprintSHA256(key)
				if old := known.Lookup(c.Address, port); old != nil {
					if gossh.FingerprintSHA256(old) == fp {
						s.printf("%s (%s): %s %s already recorded\n", h.Name, c.Address, key.Type(), fp)
						continue
					}
					if !yes {
						return hint.New(fmt.Sprintf("host %s (%s) presents %s %s, but %s is recorded", h.Name, c.Address, key.Type(), fp, gossh.FingerprintSHA256(old)),
							"if the host was rebuilt, check the new fingerprint out of band, then run again with --replace")
					}
				}
				known.Set(c.Address, port, key, e.Name+"/"+h.Name)
				s.printf("%s (%s): recorded %s %s\n", h.Name, c.Address, key.Type(), fp)
			}
			return known.Save()
		},
	}
}
