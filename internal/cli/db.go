package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/inventory"
	"tend/internal/pitr"
	"tend/internal/plan"
	"tend/internal/resource/pgbackup"
	"tend/internal/spec"
	"tend/internal/wire"
)

// dbFlags are the flags of the tend db commands.
type dbFlags struct {
	runFlags
	host string
	onto string // restore, drill: see bindOnto
}

func (f *dbFlags) bind(fs *flag.FlagSet) {
	f.runFlags.bind(fs)
	fs.StringVar(&f.host, "host", "", "the database `host` (default: the one host of ENV with a postgres_backup)")
}

func (f *dbFlags) bindOnto(fs *flag.FlagSet, usage string) {
	fs.StringVar(&f.onto, "onto", "", usage)
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
or $TEND_AGE_KEY). The environment's secrets are decrypted only to restore
onto another host, which needs the store credentials. See docs/pitr.md.`,
		subs: []*command{dbBackupCmd(), dbBackupsCmd(), dbRestoreCmd(), dbStatusCmd(), dbDrillCmd(), dbCheckCmd(), dbPruneCmd()},
	}
}

// dbTarget is a host's postgres_backup, resolved from the spec, and the
// host the operation runs on (the database host, or --onto).
type dbTarget struct {
	env   string
	host  inventory.Host // the database host
	where inventory.Host // where the operation runs
	name  string         // the resource's name
	spec  spec.PostgresBackup
	cfg   pitr.Config
}

// dbCall is what every tend db command does: it finds the backup of the
// environment args names, makes the request req builds, sends it to the
// host the operation runs on and decodes the answer into a T. When the
// host was asked and the operation failed there, the target comes back
// with the error (and no answer).
func dbCall[T any](ctx context.Context, s *session, f *dbFlags, args []string, req func(*dbTarget) (*pitr.Request, error)) (*dbTarget, *T, error) {
	if err := wantArgs(args, 1, 1, "an environment"); err != nil {
		return nil, nil, err
	}
	d, err := findBackup(s, args[0], *f)
	if err != nil {
		return nil, nil, err
	}
	r, err := req(d)
	if err != nil {
		return nil, nil, err
	}
	if d.where.Name != d.host.Name || d.where.SSH.Host != d.host.SSH.Host {
		// Another host has no credentials for this store: give it the
		// spec's, the only time tend db decrypts the secrets.
		if r.Env == nil {
			if r.Env, err = backupCredentials(s, d, f.repo); err != nil {
				return nil, nil, err
			}
		}
	}
	var out T
	if err := call(ctx, s, d.where, r, &out); err != nil {
		return d, nil, err
	}
	return d, &out, nil
}

// show prints v as JSON with --json, else calls text.
func (f *dbFlags) show(s *session, v any, text func()) error {
	if f.asJSON {
		return s.printJSON(v)
	}
	text()
	return nil
}

// findBackup finds the one postgres_backup of env (on --host), and the host
// the operation runs on, compiling the spec without its secrets.
func findBackup(s *session, env string, f dbFlags) (*dbTarget, error) {
	rf := f.runFlags
	rf.limit = f.host
	repo, hosts, err := reach(s, env, rf)
	if err != nil {
		return nil, err
	}
	var found []*dbTarget
	for _, h := range hosts {
		c, err := repo.Compile(env, h.Name, nil)
		if err != nil {
			return nil, &exitError{code: ExitUsage, err: err}
		}
		for _, r := range c.Resources {
			ps, ok := r.Spec.(*spec.PostgresBackup)
			if !ok || r.State == spec.StateAbsent {
				continue
			}
			cfg := pgbackup.Config(r.Name, ps)
			cfg.Host = h.Name
			found = append(found, &dbTarget{env: env, host: h, where: h, name: r.Name, spec: *ps, cfg: cfg})
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
	d := found[0]
	if fromSecret(&d.spec) {
		ps, err := withSecrets(s, d, f.repo)
		if err != nil {
			return nil, err
		}
		d.spec = *ps
		d.cfg = pgbackup.Config(d.name, ps)
		d.cfg.Host = d.host.Name
	}
	if f.onto != "" {
		if d.where, err = ontoHost(s, env, f.onto, f.runFlags); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// ontoHost resolves --onto HOST (in env) or ENV/HOST.
func ontoHost(s *session, env, onto string, f runFlags) (inventory.Host, error) {
	e, h := env, onto
	if a, b, ok := strings.Cut(onto, "/"); ok {
		e, h = a, b
	}
	f.limit = h
	_, hosts, err := reach(s, e, f)
	if err != nil {
		return inventory.Host{}, err
	}
	for _, t := range hosts {
		if t.Name == h {
			return t, nil
		}
	}
	return inventory.Host{}, fmt.Errorf("no host %s in environment %s", h, e)
}

// sentToHost, when set (by tests), sees every request sent to a host's
// agent: the proof that some credentials never go there.
var sentToHost func(host string, request []byte)

// call sends a request to the agent on h and decodes its result into out.
func call(ctx context.Context, s *session, h inventory.Host, req *pitr.Request, out any) error {
	bin, err := agentBinary(s)
	if err != nil {
		return err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if sentToHost != nil {
		sentToHost(h.Name, in)
	}
	var stdout bytes.Buffer
	progress := &lineWriter{fn: func(line string) { s.logf("%s: %s", h.Name, line) }}
	runErr := plan.Exec(ctx, h.SSH, bin, "db", bytes.NewReader(in), &stdout, progress)
	progress.flush()
	var reply wire.DBReply
	if jerr := json.Unmarshal(stdout.Bytes(), &reply); jerr != nil {
		if runErr != nil {
			return fmt.Errorf("host %s: %w", h.Name, runErr)
		}
		return fmt.Errorf("host %s: unreadable answer from the agent: %v", h.Name, jerr)
	}
	if err := reply.Decode(out); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
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
