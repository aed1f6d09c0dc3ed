package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"tend/internal/agent"
	"tend/internal/job"
	"tend/internal/pitr"
	"tend/internal/wire"
)

// ExitAbortRecovery is the exit code of `tend agent wal-fetch` for any
// failure other than "this file is not archived" (exit 1): PostgreSQL
// aborts recovery on an exit code above 125 instead of taking the end of
// the archive for the end of history and promoting.
const ExitAbortRecovery = 126

func agentCmd() *command {
	return &command{
		name:    "agent",
		summary: "run on a host by tend itself: converge, archive WAL, back up",
		help: `tend uploads itself to each host and runs "tend agent apply" there over SSH,
with the host's desired state on standard input; it writes JSON events on
standard output. PostgreSQL's archive_command runs "tend agent wal-push",
restores run "tend agent wal-fetch", and the backup timer runs
"tend agent pg-backup". People do not run these; see docs/agent.md and
docs/pitr.md.`,
		subs: []*command{
			agentModeCmd(wire.Plan), agentModeCmd(wire.Apply),
			walPushCmd(), walFetchCmd(), pgBackupCmd(), agentDBCmd(), agentJobCmd(), agentStatusCmd(), agentCertRenewCmd(),
			agentFirewallConfirmCmd(), agentTunnelCmd(),
		},
	}
}

func agentModeCmd(mode wire.Mode) *command {
	return &command{
		name:    string(mode),
		summary: string(mode) + " the desired state read on standard input",
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, ""); err != nil {
				return err
			}
			if err := agent.Run(ctx, mode, s.stdin, s.stdout, agent.Options{StateDir: s.getenv("TEND_AGENT_STATE")}); err != nil {
				return &exitError{code: ExitFailure} // the events said what failed
			}
			return nil
		},
	}
}

func configFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "config", "", "the backup configuration file (/etc/tend/pitr/NAME.json)")
}

func walPushCmd() *command {
	var conf string
	return &command{
		name:    "wal-push",
		args:    "--config FILE PATH",
		summary: "archive one WAL file (PostgreSQL's archive_command)",
		flags:   func(fs *flag.FlagSet) { configFlag(fs, &conf) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "the WAL file's path (%p)"); err != nil {
				return err
			}
			c, a, err := pitr.OpenConfig(ctx, conf)
			if err != nil {
				return err
			}
			return c.PushReady(ctx, a, args[0])
		},
	}
}

func walFetchCmd() *command {
	var conf string
	return &command{
		name:    "wal-fetch",
		args:    "--config FILE NAME DEST",
		summary: "restore one archived WAL file (PostgreSQL's restore_command)",
		help: `Exits 1 when the file is not in the archive (the normal end of recovery),
and 126 on any other failure, after retries: PostgreSQL then aborts recovery
instead of promoting on an incomplete archive. A segment missing while later
ones are archived (a gap) is such a failure.`,
		flags: func(fs *flag.FlagSet) { configFlag(fs, &conf) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "the file's name (%f) and destination (%p)"); err != nil {
				return err
			}
			abort := func(err error) error { return &exitError{code: ExitAbortRecovery, err: err} }
			c, a, err := pitr.OpenConfig(ctx, conf)
			if err != nil {
				return abort(err)
			}
			err = c.FetchTo(ctx, a, args[0], args[1])
			switch {
			case err == nil:
				return nil
			case errors.Is(err, pitr.ErrAbsent):
				return &exitError{code: ExitFailure, err: err}
			}
			return abort(err)
		},
	}
}

func pgBackupCmd() *command {
	var conf string
	return &command{
		name:    "pg-backup",
		args:    "--config FILE",
		summary: "take a base backup now (the backup timer runs this)",
		flags:   func(fs *flag.FlagSet) { configFlag(fs, &conf) },
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, ""); err != nil {
				return err
			}
			c, a, err := pitr.OpenConfig(ctx, conf)
			if err != nil {
				return err
			}
			b, err := c.BaseBackup(ctx, a, func(m string) { s.logf("%s", m) })
			if err != nil {
				return err
			}
			s.printf("backup %s: %d MB, WAL %s to %s\n", b.ID, b.Size>>20, b.StartLSN, b.StopLSN)
			return nil
		},
	}
}

// agentDBCmd serves one `tend db` request: JSON in, JSON out, progress on
// standard error.
func agentDBCmd() *command {
	return &command{
		name:    "db",
		summary: "serve one backup operation read as JSON on standard input",
		run: func(ctx context.Context, s *session, args []string) error {
			ok, err := pitr.ServeWire(ctx, s.stdin, s.stdout, func(m string) { fmt.Fprintln(s.stderr, m) })
			if err != nil {
				return err
			}
			if !ok {
				return &exitError{code: ExitFailure} // the reply said what failed
			}
			return nil
		},
	}
}

func agentJobCmd() *command {
	var conf string
	return &command{
		name:    "job",
		args:    "--config FILE",
		summary: "run a scheduled job and record its outcome (its timer runs this)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&conf, "config", "", "the job's configuration `FILE` (/etc/tend/jobs/NAME.json)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, ""); err != nil {
				return err
			}
			c, err := job.Load(conf)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			return job.Run(ctx, c, self)
		},
	}
}

func agentStatusCmd() *command {
	return &command{
		name:    "status",
		summary: "the host's scheduled jobs and PostgreSQL backups, as JSON",
		run: func(ctx context.Context, s *session, args []string) error {
			hs, err := agent.Status(ctx, time.Now())
			if err != nil {
				return err
			}
			return json.NewEncoder(s.stdout).Encode(hs)
		},
	}
}
