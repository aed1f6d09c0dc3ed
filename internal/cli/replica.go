package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/replica"
	"tend/internal/retention"
	"tend/internal/store/storeurl"
)

// Environment prefixes of pull-store's credentials: the source's AWS_*
// variables are read as TEND_FROM_AWS_*, the replica's as TEND_TO_AWS_*, so
// that one environment (an envdir on the storage host) holds both without
// mixing them up.
const (
	replicaFromEnv = "TEND_FROM_"
	replicaToEnv   = "TEND_TO_"
)

func replicaCmd() *command {
	return &command{
		name:    "replica",
		summary: "pull replicas of production data onto a storage host",
		help: `Runs on the storage host, which pulls: production holds nothing that can
touch the replicas. Every pull records its outcome in a status file, and
'tend replica status' fails loudly when a replica is failing or late.
See docs/replica.md.`,
		subs: []*command{replicaPullStoreCmd(), replicaPullDirCmd(), replicaStatusCmd()},
	}
}

func replicaPullStoreCmd() *command {
	var from, to, status string
	var workers int
	var keepDeleted durationFlag
	var asJSON bool
	return &command{
		name:    "pull-store",
		summary: "mirror an object store (snapshot repository, PostgreSQL archive) into another",
		help: `Copies every object of --from that --to lacks, several at a time; a second
run copies only new objects. Objects deleted at the source stay in the
replica for --keep-deleted (counted from the first pull that missed them;
the clocks live in the replica under .tend-replica/). An object that
changed at the source under the same key is an error; its old replica copy
is kept under .tend-replica/changed/.

Credentials come from the environment, never the command line: the
source's as TEND_FROM_AWS_ACCESS_KEY_ID, TEND_FROM_AWS_SECRET_ACCESS_KEY
(and TEND_FROM_AWS_SESSION_TOKEN), the replica's as TEND_TO_AWS_*. Give the
source credentials that can only read.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the source store `URL` (required)")
			fs.StringVar(&to, "to", "", "the replica store `URL` (required)")
			fs.StringVar(&status, "status", "", "write the replica's status to `FILE`")
			fs.IntVar(&workers, "workers", 4, "objects copied at once")
			keepDeleted = durationFlag(replica.DefaultKeepDeleted)
			fs.Var(&keepDeleted, "keep-deleted", "keep objects deleted at the source for `DURATION` (e.g. 30d, 12w)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 {
				return &usageError{msg: "unexpected argument " + strconv.Quote(args[0])}
			}
			if from == "" || to == "" {
				return &usageError{msg: "--from and --to are required"}
			}
			if workers < 1 {
				return &usageError{msg: "--workers must be at least 1"}
			}
			src, err := storeurl.Open(ctx, from, prefixed(s.getenv, replicaFromEnv))
			if err != nil {
				return replicaCredHint(fmt.Errorf("source: %w", err), replicaFromEnv)
			}
			dst, err := storeurl.Open(ctx, to, prefixed(s.getenv, replicaToEnv))
			if err != nil {
				return replicaCredHint(fmt.Errorf("replica: %w", err), replicaToEnv)
			}
			rep, err := replica.PullStore(ctx, src, dst, replica.StoreOptions{
				Workers: workers, KeepDeleted: time.Duration(keepDeleted), StatusFile: absOrEmpty(status)})
			if perr := printReport(s, rep, asJSON, fmt.Sprintf("%d objects copied (%d bytes), %d already there, %d deleted at the source and kept, %d deleted after --keep-deleted",
				rep.Copied, rep.CopiedBytes, rep.Skipped, rep.Missing, len(rep.Deleted))); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		},
	}
}

func replicaPullDirCmd() *command {
	var from, to, key, knownHosts, status string
	var port int
	var keep retention.Policy
	var asJSON bool
	return &command{
		name:    "pull-dir",
		summary: "copy a production directory into dated, hard-linked copies over SSH",
		help: `Copies USER@HOST:DIR with rsync over SSH into a new dated copy under --to
(--to/2006-01-02T150405Z), hard-linking files unchanged since the previous
copy; --to/latest points to the newest complete copy. A failed pull leaves
no dated copy. The --keep-* policy then removes older copies (the newest
always stays).

Production must accept the key only for reading DIR: put this before the
storage host's public key in production's authorized_keys:

  command="/usr/bin/rrsync -ro -absolute DIR",restrict

(rrsync comes with Debian's rsync package; -absolute needs rsync 3.4 or
later.) The host key must be in --known-hosts: unknown keys are refused.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the production directory, `USER@HOST:DIR` (required)")
			fs.StringVar(&to, "to", "", "the local `DIR` holding the dated copies (required)")
			fs.StringVar(&key, "ssh-key", "", "the storage host's private key `FILE` (required)")
			fs.StringVar(&knownHosts, "known-hosts", "", "the known hosts `FILE` that pins production's host key (default: ssh's)")
			fs.IntVar(&port, "port", 22, "production's SSH port")
			fs.StringVar(&status, "status", "", "write the replica's status to `FILE`")
			keep = retention.Policy{Hourly: 48, Daily: 14, Weekly: 8, Monthly: 12}
			fs.IntVar(&keep.Last, "keep-last", keep.Last, "keep the `N` newest copies (-1: all)")
			fs.IntVar(&keep.Hourly, "keep-hourly", keep.Hourly, "keep the newest copy of each of the last `N` hours that have one")
			fs.IntVar(&keep.Daily, "keep-daily", keep.Daily, "keep the newest copy of each of the last `N` days that have one")
			fs.IntVar(&keep.Weekly, "keep-weekly", keep.Weekly, "keep the newest copy of each of the last `N` ISO weeks that have one")
			fs.IntVar(&keep.Monthly, "keep-monthly", keep.Monthly, "keep the newest copy of each of the last `N` months that have one")
			fs.IntVar(&keep.Yearly, "keep-yearly", keep.Yearly, "keep the newest copy of each of the last `N` years that have one")
			fs.Var((*durationFlag)(&keep.Within), "keep-within", "keep every copy younger than `DURATION` before the newest (e.g. 2d)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 {
				return &usageError{msg: "unexpected argument " + strconv.Quote(args[0])}
			}
			if from == "" || to == "" || key == "" {
				return &usageError{msg: "--from, --to and --ssh-key are required"}
			}
			user, host, dir, err := splitRemote(from)
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			if err := keep.Validate(); err != nil {
				return &usageError{msg: err.Error()}
			}
			rep, err := replica.PullDir(ctx, replica.DirOptions{
				User: user, Host: host, Port: port, Dir: dir, To: absOrEmpty(to),
				SSHKey: absOrEmpty(key), KnownHosts: absOrEmpty(knownHosts), Keep: keep, StatusFile: absOrEmpty(status)})
			summary := fmt.Sprintf("copy %s: %d files copied (%d bytes), %d unchanged and hard-linked, %d old copies removed (%s)",
				rep.Copy, rep.Copied, rep.CopiedBytes, rep.Skipped, len(rep.Deleted), keep)
			if err != nil {
				summary = ""
			}
			if perr := printReport(s, rep, asJSON, summary); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		},
	}
}

func replicaStatusCmd() *command {
	var maxAge durationFlag
	var asJSON bool
	return &command{
		name:    "status",
		args:    "FILE...",
		summary: "show replicas' age and last error; fail when one is failing or late",
		help: `Reads the status files written by pull-store and pull-dir --status. Exits
1 with a message per replica when one failed its last pull, never
succeeded, or (with --max-age) is older than the given age.`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&maxAge, "max-age", "fail when the last success is older than `DURATION` (e.g. 1h, 2d)")
			fs.BoolVar(&asJSON, "json", false, "print the status records as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) == 0 {
				return &usageError{msg: "expected one or more status FILEs"}
			}
			now := time.Now()
			var problems []error
			var all []replica.Status
			for _, path := range args {
				st, err := replica.ReadStatus(path)
				if err != nil {
					problems = append(problems, err)
					continue
				}
				all = append(all, st)
				state := "ok"
				if err := st.Check(now, time.Duration(maxAge)); err != nil {
					problems = append(problems, err)
					state = "FAILING"
					if st.LastError == "" {
						state = "LATE"
					}
				}
				if !asJSON {
					last := "never"
					if !st.LastSuccess.IsZero() {
						last = st.LastSuccess.Format(time.RFC3339) + " (" + roundDur(now.Sub(st.LastSuccess)).String() + " ago)"
					}
					s.printf("%-7s %s <- %s  last success %s\n", state, st.Target, st.Source, last)
				}
			}
			if asJSON {
				b, err := json.MarshalIndent(all, "", "  ")
				if err != nil {
					return err
				}
				s.printf("%s\n", b)
			}
			if len(problems) > 0 {
				return hint.Wrap(errors.Join(problems...),
					"look at the pull's journal on the storage host (journalctl -u 'tend-replica-*'), fix it, and run the pull again")
			}
			return nil
		},
	}
}

func roundDur(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

func printReport(s *session, rep replica.Report, asJSON bool, summary string) error {
	if asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		s.printf("%s\n", b)
		return nil
	}
	if summary != "" {
		s.printf("%s\n", summary)
	}
	for _, w := range rep.Warnings {
		s.logf("tend: warning: %s", w)
	}
	return nil
}

// prefixed reads variable NAME as PREFIX+NAME.
func prefixed(getenv func(string) string, prefix string) func(string) string {
	return func(name string) string { return getenv(prefix + name) }
}

func replicaCredHint(err error, prefix string) error {
	if strings.Contains(err.Error(), "no credentials") {
		return hint.Wrap(err, fmt.Sprintf("set %sAWS_ACCESS_KEY_ID and %sAWS_SECRET_ACCESS_KEY", prefix, prefix))
	}
	return err
}

// splitRemote reads USER@HOST:DIR (USER@ optional).
func splitRemote(s string) (user, host, dir string, err error) {
	at := strings.LastIndex(s, "@")
	rest := s
	if at >= 0 {
		user, rest = s[:at], s[at+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return "", "", "", fmt.Errorf("--from %q: want USER@HOST:DIR", s)
		}
		return user, rest[:end+1], rest[end+2:], nil
	}
	host, dir, ok := strings.Cut(rest, ":")
	if !ok || host == "" || dir == "" {
		return "", "", "", fmt.Errorf("--from %q: want USER@HOST:DIR", s)
	}
	return user, host, dir, nil
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// durationFlag is a flag.Value for retention durations: 30d, 12w, 36h.
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return retention.FormatDuration(time.Duration(*d))
}

func (d *durationFlag) Set(s string) error {
	v, err := retention.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}
