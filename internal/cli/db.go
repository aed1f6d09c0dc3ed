package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"

	tagent "tend/internal/agent"
	"tend/internal/hint"
	"tend/internal/pitr"
	"tend/internal/plan"
	"tend/internal/resource/pgbackup"
	"tend/internal/secret"
	"tend/internal/spec"
)

// dbFlags are the flags of the tend db commands.
type dbFlags struct {
	runFlags
	host string
}

func (f *dbFlags) bind(fs *flag.FlagSet) {
	f.runFlags.bind(fs)
	fs.StringVar(&f.host, "host", "", "the database `host` (default: the one host of ENV with a postgres_backup)")
}

func dbCmd() *command {
	return &command{
		name:    "db",
		summary: "PostgreSQL backups: take, list, restore to a point in time, check, drill",
		help: `Point-in-time recovery of the PostgreSQL clusters declared with a
postgres_backup resource: WAL is archived continuously, base backups are
taken on a schedule, and any minute of the restorable window can be
restored, on the same host or another. Reading backups needs the backup
identity: $TEND_BACKUP_KEY_FILE, else the secrets identity ($TEND_AGE_KEY_FILE
or $TEND_AGE_KEY). See docs/pitr.md.`,
		subs: []*command{dbBackupCmd(), dbBackupsCmd(), dbRestoreCmd(), dbStatusCmd(), dbDrillCmd(), dbCheckCmd(), dbPruneCmd()},
	}
}

// resolve checks that args is one environment and finds its backup.
func (f *dbFlags) resolve(ctx context.Context, s *session, args []string) (*dbTarget, error) {
	if err := wantArgs(args, 1, 1, "an environment"); err != nil {
		return nil, err
	}
	return findBackup(ctx, s, args[0], *f)
}

// dbTarget is a host's postgres_backup, resolved from the spec.
type dbTarget struct {
	host plan.Target
	spec spec.PostgresBackup
	cfg  pitr.Config
}

func findBackup(ctx context.Context, s *session, env string, f dbFlags) (*dbTarget, error) {
	rf := f.runFlags
	rf.limit = f.host
	targets, err := prepare(ctx, s, env, rf)
	if err != nil {
		return nil, err
	}
	var found []*dbTarget
	for _, t := range targets {
		for _, it := range t.Desired.Resources {
			if spec.Kind(it.Kind) != spec.KindPostgresBackup {
				continue
			}
			var ps spec.PostgresBackup
			if err := tagent.Decode(it.Spec, &ps); err != nil {
				return nil, err
			}
			cfg := pgbackup.Config(it.Name, &ps)
			cfg.Host = t.Name
			found = append(found, &dbTarget{host: t, spec: ps, cfg: cfg})
		}
	}
	switch {
	case len(found) == 0:
		where := "environment " + env
		if f.host != "" {
			where = "host " + f.host
		}
		return nil, hint.New(fmt.Sprintf("no postgres_backup resource on %s", where),
			"declare one in a role of the database host (see docs/pitr.md)")
	case len(found) > 1:
		var names []string
		for _, d := range found {
			names = append(names, d.host.Name+"/"+d.cfg.Cluster)
		}
		return nil, hint.New("several postgres_backup resources: "+strings.Join(names, ", "), "choose the host with --host")
	}
	return found[0], nil
}

// ontoTarget resolves --onto HOST (in env) or ENV/HOST.
func ontoTarget(ctx context.Context, s *session, env, onto string, f dbFlags) (plan.Target, error) {
	e, h := env, onto
	if a, b, ok := strings.Cut(onto, "/"); ok {
		e, h = a, b
	}
	rf := f.runFlags
	rf.limit = h
	ts, err := prepare(ctx, s, e, rf)
	if err != nil {
		return plan.Target{}, err
	}
	for _, t := range ts {
		if t.Name == h {
			return t, nil
		}
	}
	return plan.Target{}, fmt.Errorf("no host %s in environment %s", h, e)
}

// backupIdentity reads the identity that opens backups.
func backupIdentity(s *session) (string, error) {
	var ids []age.Identity
	var err error
	if p := s.getenv("TEND_BACKUP_KEY_FILE"); p != "" {
		ids, err = secret.Identities(func(k string) string {
			if k == "TEND_AGE_KEY_FILE" {
				return p
			}
			return ""
		})
	} else {
		ids, err = secret.Identities(s.getenv)
	}
	if err != nil {
		return "", hint.Wrap(err, "reading backups needs the identity they are sealed to: set TEND_BACKUP_KEY_FILE")
	}
	var lines []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			lines = append(lines, x.String())
		}
	}
	if len(lines) == 0 {
		return "", errors.New("no X25519 identity to read backups with")
	}
	return strings.Join(lines, "\n"), nil
}

// call sends a request to the agent on t and decodes its result into out.
func call(ctx context.Context, s *session, t plan.Target, req *pitr.Request, out any) error {
	bin, err := agentBinary(s)
	if err != nil {
		return err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	progress := &lineWriter{fn: func(line string) { s.logf("%s: %s", t.Name, line) }}
	runErr := plan.Exec(ctx, t.SSH, bin, "db", bytes.NewReader(in), &stdout, progress)
	progress.flush()
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
		Hint   string          `json:"hint"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &reply); jerr != nil {
		if runErr != nil {
			return fmt.Errorf("host %s: %w", t.Name, runErr)
		}
		return fmt.Errorf("host %s: unreadable answer from the agent: %v", t.Name, jerr)
	}
	if reply.Error != "" {
		err := fmt.Errorf("host %s: %s", t.Name, reply.Error)
		if reply.Hint != "" {
			return hint.Wrap(err, reply.Hint)
		}
		return err
	}
	if out != nil && len(reply.Result) > 0 {
		return json.Unmarshal(reply.Result, out)
	}
	return nil
}

// lineWriter calls fn for each complete line written.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func printJSON(s *session, v any) error {
	enc := json.NewEncoder(s.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dbBackupCmd() *command {
	var f dbFlags
	return &command{
		name: "backup", args: "ENV", summary: "take a base backup now",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			var b pitr.Backup
			if err := call(ctx, s, d.host, &pitr.Request{Op: "backup", Config: d.cfg}, &b); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(s, b)
			}
			s.printf("backup %s of %s on %s: %d MB in %d parts, restorable from %s\n", b.ID, b.Cluster, d.host.Name, b.Size>>20, len(b.Parts), ts(b.StopTime))
			return nil
		},
	}
}

func dbBackupsCmd() *command {
	var f dbFlags
	return &command{
		name: "backups", args: "ENV", summary: "list base backups and the restorable window",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			var l pitr.BackupList
			if err := call(ctx, s, d.host, &pitr.Request{Op: "backups", Config: d.cfg}, &l); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(s, l)
			}
			s.printf("%-27s  %-21s  %-21s  %8s  %s\n", "BACKUP", "RESTORES FROM", "TO", "SIZE", "WAL")
			for _, w := range l.Windows {
				state := "up to " + w.Last
				if !w.Usable {
					state = "UNUSABLE: " + w.Missing + " missing"
				} else if w.Gap {
					state += ", then a gap at " + w.Missing
				}
				s.printf("%-27s  %-21s  %-21s  %6dMB  %s\n", w.Backup.ID, ts(w.From), ts(w.To), w.Backup.Size>>20, state)
			}
			if from, to, ok := pitr.Span(l.Windows); ok {
				s.printf("\nrestorable window: %s to %s (%d WAL files)\n", ts(from), ts(to), l.WALFiles)
			} else {
				s.printf("\nnothing is restorable\n")
			}
			for _, i := range l.Incomplete {
				s.printf("incomplete backup %s (%d objects, last written %s): deleted by tend db prune after a day\n", i.ID, len(i.Keys), ts(i.ModTime))
			}
			return nil
		},
	}
}

func dbRestoreCmd() *command {
	var f dbFlags
	var to, onto string
	return &command{
		name: "restore", args: "ENV --to TIME|latest", summary: "restore the cluster to a point in time, here or onto another host",
		help: `Picks the base backup itself, restores it, replays the archived WAL up
to TIME (RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" in local time) or to the end
of the archive (latest), checks where recovery stopped, and promotes.

Without --onto the database host itself is restored: PostgreSQL is stopped
and its data directory is kept aside (its path is printed), never deleted.
With --onto HOST (or ENV/HOST) that host's cluster is replaced instead and
the database host is not touched.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&to, "to", "", "the point in time: `TIME` or latest (required)")
			fs.StringVar(&onto, "onto", "", "restore onto this `host` (HOST or ENV/HOST) instead of the database host")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			if to == "" {
				return &usageError{msg: "--to is required: a time or latest"}
			}
			target, err := pitr.ParseTarget(to, time.Local)
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			d, err := findBackup(ctx, s, args[0], f)
			if err != nil {
				return err
			}
			id, err := backupIdentity(s)
			if err != nil {
				return err
			}
			where := d.host
			if onto != "" {
				if where, err = ontoTarget(ctx, s, args[0], onto, f); err != nil {
					return err
				}
			}
			req := &pitr.Request{Op: "restore", Config: d.cfg, Env: d.spec.Env, Identity: id, Target: target}
			var r pitr.RestoreResult
			if err := call(ctx, s, where, req, &r); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(s, r)
			}
			s.printf("restored %s on %s from backup %s to %s\n", d.cfg.Cluster, where.Name, r.Backup, r.Target)
			s.printf("  last transaction replayed: %s; recovery ended at %s; now on timeline %d, promoted and writable\n", ts(r.ReplayedTo), r.EndLSN, r.Timeline)
			if r.KeptAside != "" {
				s.printf("  the previous data directory is kept at %s (remove it when you no longer need it)\n", r.KeptAside)
			}
			s.printf("  took %s\n", r.Duration)
			return nil
		},
	}
}

func dbStatusCmd() *command {
	var f dbFlags
	return &command{
		name: "status", args: "ENV", summary: "archiving health, backlog, restorable window, last drill; exit 1 when something is wrong",
		flags: func(fs *flag.FlagSet) { f.bind(fs) },
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			var st pitr.Status
			if err := call(ctx, s, d.host, &pitr.Request{Op: "status", Config: d.cfg}, &st); err != nil {
				return err
			}
			if f.asJSON {
				printJSON(s, st)
			} else {
				printStatus(s, d.host.Name, &st)
			}
			if len(st.Problems) > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("backups of %s on %s are NOT healthy:\n%s", st.Cluster, d.host.Name, strings.Join(st.Problems, "\n"))}
			}
			return nil
		},
	}
}

func printStatus(s *session, host string, st *pitr.Status) {
	age := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return fmt.Sprintf("%s (%s ago)", ts(*t), st.Now.Sub(*t).Round(time.Second))
	}
	s.printf("cluster %s on %s, archiving to %s (archive_mode %s, archive_timeout %ds)\n", st.Cluster, host, st.Store, st.ArchiveMode, st.ArchiveTimeout)
	s.printf("  last archived:  %s %s\n", st.LastArchived, age(st.LastArchivedTime))
	s.printf("  failures:       %d, last %s %s\n", st.FailedCount, st.LastFailed, age(st.LastFailedTime))
	s.printf("  backlog:        %d WAL files waiting\n", st.Ready)
	s.printf("  base backups:   %d, last %s\n", st.Backups, age(st.LastBackupTime))
	if st.From != nil {
		s.printf("  restorable:     %s to %s\n", ts(*st.From), ts(*st.To))
	}
	if d := st.LastDrill; d != nil {
		res := "passed"
		if !d.OK {
			res = "FAILED: " + d.Error
		}
		s.printf("  last drill:     %s on %s, %s\n", age(&d.Time), d.Host, res)
	} else {
		s.printf("  last drill:     never (run tend db drill)\n")
	}
	if len(st.Problems) == 0 {
		s.printf("  healthy\n")
	}
}

func dbDrillCmd() *command {
	var f dbFlags
	var onto, query string
	return &command{
		name: "drill", args: "ENV", summary: "restore the latest backup to a scratch place, run a query, record the result",
		help: `Restores the latest state into a scratch directory on the database host (or
on --onto HOST), with a private server on a Unix socket and archiving off,
runs the query, records the result in the store (tend db status shows it)
and removes the scratch copy. The running cluster is not touched. Run it
from a scheduled CI job: it needs the backup identity, which hosts do not
hold.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.StringVar(&onto, "onto", "", "run the drill on this `host` (HOST or ENV/HOST)")
			fs.StringVar(&query, "query", "SELECT count(*) FROM pg_database", "the `SQL` run on the restored copy")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			id, err := backupIdentity(s)
			if err != nil {
				return err
			}
			where := d.host
			if onto != "" {
				if where, err = ontoTarget(ctx, s, args[0], onto, f); err != nil {
					return err
				}
			}
			var r pitr.RestoreResult
			req := &pitr.Request{Op: "drill", Config: d.cfg, Env: d.spec.Env, Identity: id, Target: pitr.Target{Latest: true}, Query: query}
			if err := call(ctx, s, where, req, &r); err != nil {
				return fmt.Errorf("restore drill FAILED (recorded): %w", err)
			}
			if f.asJSON {
				return printJSON(s, r)
			}
			s.printf("restore drill passed on %s: backup %s, replayed to %s, in %s\n  %s -> %s\n", where.Name, r.Backup, ts(r.ReplayedTo), r.Duration, query, r.QueryResult)
			return nil
		},
	}
}

func dbCheckCmd() *command {
	var f dbFlags
	var readData bool
	return &command{
		name: "check", args: "ENV", summary: "check the archive: restorable backups, WAL gaps, and with --read-data every object",
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&readData, "read-data", false, "read back, unseal and verify every backup part and WAL file (needs the backup identity)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			req := &pitr.Request{Op: "check", Config: d.cfg, ReadData: readData}
			if readData {
				if req.Identity, err = backupIdentity(s); err != nil {
					return err
				}
			}
			var problems []string
			if err := call(ctx, s, d.host, req, &problems); err != nil {
				return err
			}
			if len(problems) > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("the archive of %s has problems:\n%s", d.cfg.Cluster, strings.Join(problems, "\n"))}
			}
			s.printf("the archive of %s in %s is sound\n", d.cfg.Cluster, d.cfg.Store)
			return nil
		},
	}
}

func dbPruneCmd() *command {
	var f dbFlags
	var yes bool
	return &command{
		name: "prune", args: "ENV", summary: "apply the retention: show what would be deleted, delete with --yes",
		help: `Keeps the keep_count newest base backups, every backup within keep_within,
and the newest one before that (so every time in the window stays
restorable); deletes the other backups and the WAL older than the oldest
kept backup. Timeline history files are never deleted. Without --yes it
only shows the decision and exits 3 when something would be deleted.

Deleting needs store credentials allowed to delete, which hosts should not
have: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of
the machine running tend db prune (a CI secret); without them the host's
credentials from the spec are used.`,
		flags: func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&yes, "yes", false, "delete what the retention does not keep")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			d, err := f.resolve(ctx, s, args)
			if err != nil {
				return err
			}
			within, err := spec.ParseDays(d.spec.KeepWithin)
			if err != nil {
				return err
			}
			env := d.spec.Env
			if k := s.getenv("AWS_ACCESS_KEY_ID"); k != "" {
				env = map[string]string{"AWS_ACCESS_KEY_ID": k, "AWS_SECRET_ACCESS_KEY": s.getenv("AWS_SECRET_ACCESS_KEY")}
			}
			keep := pitr.Keep{Count: d.spec.KeepCount, Within: within}
			var r pitr.PruneResult
			if err := call(ctx, s, d.host, &pitr.Request{Op: "prune", Config: d.cfg, Env: env, Keep: keep, Apply: yes}, &r); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(s, r)
			}
			p := r.Plan
			s.printf("retention: %s\n", keep)
			for _, b := range p.Keep {
				s.printf("  keep    %s  (ended %s): %s\n", b.ID, ts(b.StopTime), p.Reasons[b.ID])
			}
			verb := "delete"
			if !yes {
				verb = "would delete"
			}
			for _, b := range p.Delete {
				s.printf("  %s %s  (ended %s)\n", verb, b.ID, ts(b.StopTime))
			}
			for _, i := range p.Incomplete {
				s.printf("  %s incomplete backup %s\n", verb, i.ID)
			}
			if n := len(p.DeleteWAL); n > 0 {
				s.printf("  %s %d WAL files, %s to %s\n", verb, n, p.DeleteWAL[0].Name, p.DeleteWAL[n-1].Name)
			}
			pending := len(p.Delete) + len(p.Incomplete) + len(p.DeleteWAL)
			if pending == 0 {
				s.printf("nothing to delete\n")
				return nil
			}
			if !yes {
				s.printf("run again with --yes to delete\n")
				return &exitError{code: ExitChanges}
			}
			return nil
		},
	}
}
