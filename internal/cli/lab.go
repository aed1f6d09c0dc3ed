package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"tend/internal/hint"
	"tend/internal/lab"
	"tend/internal/spec"
)

func labCmd() *command {
	return &command{
		name:    "lab",
		summary: "local lab of real Debian hosts, for rehearsals and tests",
		help: `A lab is a set of real Debian 12 hosts on this machine: systemd-nspawn
machines with systemd as PID 1, each with its own network namespace, address
and hostname, reachable over SSH from here and from each other on a private
bridge (lab N uses 10.147.N.0/24; hosts have no route anywhere else).
Rehearse a change on a lab before staging. Needs root.`,
		subs: []*command{labUpCmd(), labStatusCmd(), labSSHCmd(), labDownCmd()},
	}
}

// labFlags are the flags every lab command has.
type labFlags struct{ name string }

func (f *labFlags) bind(fs *flag.FlagSet) {
	def := os.Getenv("TEND_LAB")
	if def == "" {
		def = "lab"
	}
	fs.StringVar(&f.name, "lab", def, "the lab's `name` (env TEND_LAB)")
}

func labUpCmd() *command {
	var lf labFlags
	var (
		n                  int
		from, env          string
		packages, repoPkgs string
		wait               time.Duration
		asJSON             bool
	)
	return &command{
		name:    "up",
		summary: "boot the lab's hosts (idempotent)",
		help: `Boots the lab's hosts and waits until each answers SSH. The first run
builds the hosts' root file system with debootstrap (a few minutes; cached
in /var/cache/tend/lab, keyed on the package list). Running up again keeps
healthy hosts, remakes broken ones and removes hosts no longer asked for.

Hosts are host1..hostN (--hosts), or the hosts of an environment of an
infrastructure repository (--from DIR --env ENV). Every host offers a local
apt repository with --repo-packages, so packages install with no network.`,
		flags: func(fs *flag.FlagSet) {
			lf.bind(fs)
			fs.IntVar(&n, "hosts", 3, "boot `N` hosts named host1..hostN")
			fs.StringVar(&from, "from", "", "boot the hosts of an infrastructure repository `DIR`")
			fs.StringVar(&env, "env", "", "with --from: the `environment` whose hosts to boot")
			fs.StringVar(&packages, "packages", strings.Join(lab.DefaultPackages, ","), "Debian `packages` installed on every host, besides the base")
			fs.StringVar(&repoPkgs, "repo-packages", strings.Join(lab.DefaultRepoPackages, ","), "`packages` offered by the hosts' local apt repository")
			fs.DurationVar(&wait, "wait", 60*time.Second, "how long a host may take to answer SSH")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			opts := lab.Options{Packages: splitList(packages), RepoPackages: splitList(repoPkgs), Wait: wait}
			switch {
			case from != "":
				hosts, err := hostsFrom(from, env)
				if err != nil {
					return err
				}
				opts.Hosts = hosts
			case n < 1:
				return &usageError{msg: "--hosts must be at least 1"}
			default:
				for i := 1; i <= n; i++ {
					opts.Hosts = append(opts.Hosts, fmt.Sprintf("host%d", i))
				}
			}
			cfg := lab.DefaultConfig(s.getenv)
			cfg.Log = s.stderr
			st, err := lab.Up(ctx, cfg, lf.name, opts)
			if err != nil {
				return err
			}
			return printLab(ctx, s, cfg, st, asJSON)
		},
	}
}

func labStatusCmd() *command {
	var lf labFlags
	var asJSON bool
	return &command{
		name:    "status",
		summary: "show the lab's hosts and whether they answer SSH",
		help:    "Exits 1 when a host is not running or does not answer SSH.",
		flags: func(fs *flag.FlagSet) {
			lf.bind(fs)
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			cfg := lab.DefaultConfig(s.getenv)
			st, err := lab.Load(cfg, lf.name)
			if err != nil {
				return err
			}
			return printLab(ctx, s, cfg, st, asJSON)
		},
	}
}

// printLab prints the lab and its hosts' health; an unhealthy host makes
// the command fail.
func printLab(ctx context.Context, s *session, cfg lab.Config, st *lab.State, asJSON bool) error {
	hs := lab.Status(ctx, cfg, st)
	if asJSON {
		out := struct {
			Name     string           `json:"name"`
			Subnet   string           `json:"subnet"`
			Machine  string           `json:"machine_addr"`
			Key      string           `json:"key"`
			KnownHos string           `json:"known_hosts"`
			Hosts    []lab.HostStatus `json:"hosts"`
		}{st.Name, st.Subnet(), st.Gateway(), cfg.KeyPath(st.Name), cfg.KnownHostsPath(st.Name), hs}
		if err := s.printJSON(out); err != nil {
			return err
		}
	} else {
		s.printf("lab %s: %s, this machine is %s\n", st.Name, st.Subnet(), st.Gateway())
		tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tADDRESS\tSTATE\tSSH")
		for _, h := range hs {
			state, ssh := "running", "ok"
			if !h.Running {
				state = "stopped"
			}
			if !h.SSH {
				ssh = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, h.Addr, state, ssh)
		}
		tw.Flush()
	}
	var bad []string
	for _, h := range hs {
		if !h.SSH {
			bad = append(bad, h.Name+": "+h.Error)
		}
	}
	if len(bad) > 0 {
		return hint.Wrap(fmt.Errorf("lab %s: %d host(s) unhealthy:\n%s", st.Name, len(bad), strings.Join(bad, "\n")),
			"remake them with: tend lab up --lab "+st.Name)
	}
	return nil
}

func labSSHCmd() *command {
	var lf labFlags
	return &command{
		name:          "ssh",
		args:          "HOST [CMD...]",
		summary:       "open a shell on a lab host, or run a command there",
		help:          "Uses the system's ssh client with the lab's key and the hosts' pinned keys.\nThe exit code is the remote command's.",
		flags:         lf.bind,
		noIntersperse: true,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, -1, "a host name, then optionally a command"); err != nil {
				return err
			}
			cfg := lab.DefaultConfig(s.getenv)
			st, err := lab.Load(cfg, lf.name)
			if err != nil {
				return err
			}
			h := st.Host(args[0])
			if h == nil {
				var names []string
				for _, h := range st.Hosts {
					names = append(names, h.Name)
				}
				return hint.New(fmt.Sprintf("lab %s has no host %q", st.Name, args[0]), "its hosts are: "+strings.Join(names, ", "))
			}
			path, err := exec.LookPath("ssh")
			if err != nil {
				return hint.New("ssh not found in PATH", "install it with: apt-get install -y openssh-client")
			}
			sshArgs := []string{"-i", cfg.KeyPath(st.Name), "-o", "IdentitiesOnly=yes",
				"-o", "UserKnownHostsFile=" + cfg.KnownHostsPath(st.Name), "-o", "GlobalKnownHostsFile=/dev/null",
				"-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "root@" + h.Addr}
			if len(args) > 1 {
				sshArgs = append(sshArgs, "--")
				sshArgs = append(sshArgs, args[1:]...)
			}
			cmd := exec.CommandContext(ctx, path, sshArgs...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, s.stdout, s.stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return &exitError{code: ee.ExitCode()}
			}
			return err
		},
	}
}

func labDownCmd() *command {
	var lf labFlags
	return &command{
		name:    "down",
		summary: "stop the lab and remove everything it created",
		help:    "Removes the hosts' processes, mounts, network namespaces, links and the bridge,\nalso after a crash of tend halfway through up.",
		flags:   lf.bind,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			cfg := lab.DefaultConfig(s.getenv)
			was, err := lab.Down(ctx, cfg, lf.name)
			if err != nil {
				return err
			}
			if was {
				s.printf("lab %s is down\n", lf.name)
			} else {
				s.printf("lab %s was not up\n", lf.name)
			}
			return nil
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}

// hostsFrom returns the host names of an environment of an infrastructure
// repository. The lab gives them lab addresses: the declared ones are never
// used, they belong to real machines.
func hostsFrom(dir, env string) ([]string, error) {
	repo, err := spec.Load(dir)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	names := repo.EnvironmentNames()
	if env == "" {
		return nil, &usageError{msg: "--from needs --env, one of: " + strings.Join(names, ", ")}
	}
	e := repo.Environments[env]
	if e == nil {
		return nil, hint.New(fmt.Sprintf("%s: no environment %q", dir, env), "environments are: "+strings.Join(names, ", "))
	}
	var hosts []string
	for _, h := range e.Hosts {
		if err := lab.CheckHostName(h.Name); err != nil {
			return nil, fmt.Errorf("environment %s: %w", env, err)
		}
		hosts = append(hosts, h.Name)
	}
	return hosts, nil
}
