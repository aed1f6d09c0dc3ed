package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"

	"tend/internal/hint"
	"tend/internal/retention"
	"tend/internal/seal"
	"tend/internal/secret"
	"tend/internal/snapshot"
	"tend/internal/store/storeurl"
)

// Environment variables of `tend snapshot`.
const (
	envSnapStore      = "TEND_SNAPSHOT_STORE"
	envSnapRecipients = "TEND_SNAPSHOT_RECIPIENTS"
	envSnapKey        = "TEND_SNAPSHOT_KEY"
	envSnapKeyFile    = "TEND_SNAPSHOT_KEY_FILE"
	envSnapCache      = "TEND_SNAPSHOT_CACHE"
)

func snapshotCmd() *command {
	return &command{
		name:    "snapshot",
		summary: "deduplicated, encrypted file snapshots in an object store",
		help: `A snapshot repository lives in an object store (--store, default
TEND_SNAPSHOT_STORE; S3 credentials from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY). Every command needs the repository's write key
(TEND_SNAPSHOT_KEY, 64 hex digits, or the file TEND_SNAPSHOT_KEY_FILE).
create needs the age recipients (--recipients FILE or
TEND_SNAPSHOT_RECIPIENTS); ls, diff, restore, prune and check need the age
identity (TEND_AGE_KEY or TEND_AGE_KEY_FILE), which hosts do not hold.
See docs/snapshot.md.`,
		subs: []*command{
			snapInitCmd(), snapCreateCmd(), snapListCmd(), snapLsCmd(), snapDiffCmd(),
			snapRestoreCmd(), snapForgetCmd(), snapPruneCmd(), snapCheckCmd(), snapDrillCmd(),
		},
	}
}

// snapOpts are the flags every snapshot command shares.
type snapOpts struct {
	store      string
	recipients string
}

func (o *snapOpts) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.store, "store", "", "the store `URL` (default $"+envSnapStore+")")
	fs.StringVar(&o.recipients, "recipients", "", "`FILE` of age recipients, one age1... per line (default $"+envSnapRecipients+")")
}

func (o *snapOpts) storeURL(s *session) (string, error) {
	u := o.store
	if u == "" {
		u = s.getenv(envSnapStore)
	}
	if u == "" {
		return "", &usageError{msg: "no store: give --store URL or set " + envSnapStore}
	}
	return u, nil
}

// writeKey reads the write key from the environment; ok is false when
// neither variable is set.
func snapWriteKey(s *session) (key []byte, ok bool, err error) {
	if v := s.getenv(envSnapKey); v != "" {
		k, err := snapshot.ParseKey(v)
		if err != nil {
			return nil, true, hint.Wrap(fmt.Errorf("%s: %w", envSnapKey, err), "set it to the key 'tend snapshot init' wrote")
		}
		return k, true, nil
	}
	p := s.getenv(envSnapKeyFile)
	if p == "" {
		return nil, false, nil
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("snapshot key file: %w", err)
	}
	k, err := snapshot.ParseKey(string(data))
	if err != nil {
		return nil, true, fmt.Errorf("snapshot key file %s: %w", p, err)
	}
	return k, true, nil
}

const snapKeyHint = "set " + envSnapKey + " (64 hex digits) or " + envSnapKeyFile + " to the write key 'tend snapshot init' wrote"

// open opens the repository. needID: the command reads contents and needs
// the identity; wantRcpt: it writes packs and needs recipients.
func (o *snapOpts) open(ctx context.Context, s *session, needID, wantRcpt bool) (*snapshot.Repo, error) {
	u, err := o.storeURL(s)
	if err != nil {
		return nil, err
	}
	k, ok, err := snapWriteKey(s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, hint.New("no snapshot write key", snapKeyHint)
	}
	ks := snapshot.Keys{WriteKey: k}
	if needID {
		ids, err := secret.Identities(s.getenv)
		if err != nil {
			return nil, err
		}
		ks.Identities = ids
	}
	if wantRcpt {
		rs, err := o.loadRecipients(s)
		if err != nil {
			return nil, err
		}
		if rs == nil {
			for _, id := range ks.Identities {
				if x, ok := id.(*age.X25519Identity); ok {
					rs = append(rs, x.Recipient())
				}
			}
		}
		ks.Recipients = rs
	}
	st, err := storeurl.Open(ctx, u, s.getenv)
	if err != nil {
		return nil, err
	}
	r, err := snapshot.Open(ctx, st, ks)
	if err != nil {
		return nil, err
	}
	r.Logf = s.logf
	return r, nil
}

func (o *snapOpts) loadRecipients(s *session) ([]age.Recipient, error) {
	text := s.getenv(envSnapRecipients)
	from := envSnapRecipients
	if o.recipients != "" {
		data, err := os.ReadFile(o.recipients)
		if err != nil {
			return nil, fmt.Errorf("recipients: %w", err)
		}
		text, from = string(data), o.recipients
	}
	if text == "" {
		return nil, nil
	}
	rs, err := seal.ParseRecipients(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return rs, nil
}

func snapInitCmd() *command {
	var o snapOpts
	var keyFile string
	return &command{
		name:    "init",
		summary: "create an empty snapshot repository in the store",
		help: `Creates the repository. The write key comes from TEND_SNAPSHOT_KEY or
TEND_SNAPSHOT_KEY_FILE when set; otherwise a new key is generated and written
to --key-file (or the TEND_SNAPSHOT_KEY_FILE path), mode 0600, never printed.
Store that key as a tend secret and deliver it to the hosts that back up;
keep the age identity off those hosts.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&keyFile, "key-file", "", "write a newly generated write key to `FILE` (created, mode 0600)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			u, err := o.storeURL(s)
			if err != nil {
				return err
			}
			st, err := storeurl.Open(ctx, u, s.getenv)
			if err != nil {
				return err
			}
			k, ok, err := snapWriteKey(s)
			if err != nil {
				return err
			}
			wrote := ""
			if !ok {
				if keyFile == "" {
					keyFile = s.getenv(envSnapKeyFile)
				}
				if keyFile == "" {
					return hint.New("no write key given and nowhere to write a new one",
						"give --key-file FILE to generate one, or set "+envSnapKey+" to an existing key")
				}
				if k, err = snapshot.GenerateKey(); err != nil {
					return err
				}
				f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return hint.Wrap(fmt.Errorf("write key file: %w", err), "choose a new file; an existing key file is never overwritten")
				}
				if _, err := fmt.Fprintln(f, hex.EncodeToString(k)); err != nil {
					f.Close()
					return fmt.Errorf("write key file: %w", err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("write key file: %w", err)
				}
				wrote = keyFile
			}
			cfg, err := snapshot.Init(ctx, st, k, time.Now())
			if err != nil {
				if wrote != "" {
					os.Remove(wrote)
				}
				return err
			}
			s.printf("created snapshot repository %s in %s\n", cfg.ID, st)
			if wrote != "" {
				s.printf("wrote the new write key to %s (mode 0600)\n", wrote)
				s.printf("store it as a secret and give it to backing-up hosts as %s or %s;\n", envSnapKey, envSnapKeyFile)
				s.printf("hosts also need the age recipients (public keys), never the identity\n")
			}
			return nil
		},
	}
}

func snapCacheDir(s *session) string {
	if d := s.getenv(envSnapCache); d != "" {
		return d
	}
	if d := s.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "tend", "snapshot")
	}
	if os.Geteuid() == 0 {
		return "/var/cache/tend/snapshot"
	}
	if h := s.getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "tend", "snapshot")
	}
	return ""
}

func snapCreateCmd() *command {
	var (
		o        snapOpts
		excludes stringList
		tags     stringList
		host     string
		cache    string
		noCache  bool
		asJSON   bool
	)
	return &command{
		name:    "create",
		args:    "PATH...",
		summary: "record a new snapshot of PATHs",
		help: `Reads the PATHs and stores what the repository does not have yet. Needs the
write key and the recipients, not the identity, and takes no lock. A local
cache (--cache) remembers the last snapshot of the same host and paths, so
that files whose size, mtime, ctime and inode are unchanged are not read.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.Var(&excludes, "exclude", "skip files matching `PATTERN` (base name or full path; repeatable)")
			fs.Var(&tags, "tag", "add the label `TAG` (repeatable)")
			fs.StringVar(&host, "host", "", "the host `NAME` recorded (default: this machine's host name)")
			fs.StringVar(&cache, "cache", "", "cache `DIR` (default $"+envSnapCache+", else ~/.cache/tend/snapshot or /var/cache/tend/snapshot)")
			fs.BoolVar(&noCache, "no-cache", false, "read every file")
			fs.BoolVar(&asJSON, "json", false, "print the snapshot as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) == 0 {
				return &usageError{msg: "expected PATH..."}
			}
			r, err := o.open(ctx, s, false, true)
			if err != nil {
				return err
			}
			if host == "" {
				if host, err = os.Hostname(); err != nil {
					return err
				}
			}
			if !noCache && cache == "" {
				cache = snapCacheDir(s)
			}
			if noCache {
				cache = ""
			}
			start := time.Now()
			sn, err := r.Create(ctx, snapshot.CreateOptions{Paths: args, Excludes: excludes, Host: host, Tags: tags, CacheDir: cache})
			if err != nil {
				return err
			}
			if asJSON {
				return snapPrintJSON(s, snapJSON(sn))
			}
			m := sn.Summary
			s.printf("snapshot %s saved: %d files, %d dirs, %s; %d unchanged, read %s, added %s in %d blobs, uploaded %s in %.1fs\n",
				sn.ID.Short(), m.Files, m.Dirs, snapSize(m.Bytes), m.Unchanged, snapSize(m.Read), snapSize(m.NewBytes), m.NewBlobs,
				snapSize(m.Uploaded), time.Since(start).Seconds())
			return nil
		},
	}
}

func snapPrintJSON(s *session, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	s.printf("%s\n", b)
	return nil
}

type snapJSONOut struct {
	ID      string           `json:"id"`
	Time    time.Time        `json:"time"`
	Host    string           `json:"host"`
	Paths   []string         `json:"paths"`
	Tags    []string         `json:"tags"`
	Parent  string           `json:"parent,omitempty"`
	Summary snapshot.Summary `json:"summary"`
}

func snapJSON(sn *snapshot.Snapshot) snapJSONOut {
	tags := sn.Tags
	if tags == nil {
		tags = []string{}
	}
	return snapJSONOut{ID: sn.ID.String(), Time: sn.Time, Host: sn.Host, Paths: sn.Paths, Tags: tags, Parent: sn.Parent, Summary: sn.Summary}
}

func snapSize(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func snapListCmd() *command {
	var o snapOpts
	var asJSON bool
	return &command{
		name:    "list",
		summary: "list snapshots, oldest first",
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.BoolVar(&asJSON, "json", false, "print the list as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, false, false)
			if err != nil {
				return err
			}
			sns, err := r.Snapshots(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]snapJSONOut, 0, len(sns))
				for _, sn := range sns {
					out = append(out, snapJSON(sn))
				}
				return snapPrintJSON(s, out)
			}
			tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tHOST\tPATHS\tTAGS\tSIZE")
			for _, sn := range sns {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04:05"), sn.Host,
					strings.Join(sn.Paths, ","), strings.Join(sn.Tags, ","), snapSize(sn.Summary.Bytes))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			d, err := r.LastDrill(ctx)
			switch {
			case err != nil:
				return err
			case d == nil:
				s.printf("last restore drill: never (tend snapshot drill)\n")
			case d.OK:
				s.printf("last restore drill: %s, snapshot %s, passed (%d files)\n", d.Time.Local().Format("2006-01-02 15:04:05"), d.Snapshot[:8], d.Files)
			default:
				s.printf("last restore drill: %s, snapshot %s, FAILED: %s\n", d.Time.Local().Format("2006-01-02 15:04:05"), d.Snapshot[:8], d.Error)
			}
			return nil
		},
	}
}

func snapLsCmd() *command {
	var o snapOpts
	return &command{
		name:    "ls",
		args:    "SNAPSHOT [PATH]",
		summary: "list the files of a snapshot (needs the identity)",
		help:    `SNAPSHOT is an ID, a unique prefix of one (at least 4 hex digits), or "latest".`,
		flags:   o.flags,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 2, "SNAPSHOT [PATH]"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			sn, err := r.Find(ctx, args[0])
			if err != nil {
				return err
			}
			path := "/"
			if len(args) == 2 {
				path = args[1]
			}
			entries, err := r.Ls(ctx, sn, path)
			if err != nil {
				return err
			}
			for _, e := range entries {
				n := e.Node
				owner := n.User
				if owner == "" {
					owner = strconv.Itoa(int(n.UID))
				}
				group := n.Group
				if group == "" {
					group = strconv.Itoa(int(n.GID))
				}
				p := strconv.Quote(e.Path)
				p = p[1 : len(p)-1]
				if n.Type == snapshot.TypeSymlink {
					p += " -> " + n.Target
				}
				s.printf("%s %s/%s %10d %s %s\n", snapModeString(n), owner, group, n.Size,
					time.Unix(0, n.MTime).Local().Format("2006-01-02 15:04:05"), p)
			}
			return nil
		},
	}
}

func snapModeString(n snapshot.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case snapshot.TypeDir:
		m |= fs.ModeDir
	case snapshot.TypeSymlink:
		m |= fs.ModeSymlink
	case snapshot.TypeDevice:
		m |= fs.ModeDevice
	case snapshot.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case snapshot.TypeFIFO:
		m |= fs.ModeNamedPipe
	}
	return m.String()
}

func snapDiffCmd() *command {
	var o snapOpts
	return &command{
		name:    "diff",
		args:    "A B",
		summary: "list paths added (+), removed (-) or modified (M) from snapshot A to B",
		flags:   o.flags,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 2, 2, "A B"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			all, err := r.Snapshots(ctx)
			if err != nil {
				return err
			}
			a, err := snapshot.Select(all, args[0])
			if err != nil {
				return err
			}
			b, err := snapshot.Select(all, args[1])
			if err != nil {
				return err
			}
			changes, err := r.Diff(ctx, a, b)
			if err != nil {
				return err
			}
			sign := map[string]string{"added": "+", "removed": "-", "modified": "M"}
			for _, c := range changes {
				p := strconv.Quote(c.Path)
				s.printf("%s %s\n", sign[c.What], p[1:len(p)-1])
			}
			return nil
		},
	}
}

func snapRestoreCmd() *command {
	var o snapOpts
	var to string
	return &command{
		name:    "restore",
		args:    "SNAPSHOT [PATH]",
		summary: "restore a snapshot, or PATH in it, under --to DIR (needs the identity)",
		help: `Restores with full paths: restoring /var/mail to /tmp/r gives /tmp/r/var/mail.
Content is verified; owners are restored when running as root; sparse files
stay sparse.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&to, "to", "", "restore under `DIR` (required)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 2, "SNAPSHOT [PATH]"); err != nil {
				return err
			}
			if to == "" {
				return &usageError{msg: "--to DIR is required"}
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			sn, err := r.Find(ctx, args[0])
			if err != nil {
				return err
			}
			path := "/"
			if len(args) == 2 {
				path = args[1]
			}
			start := time.Now()
			res, err := r.Restore(ctx, sn, path, to, 0)
			if err != nil {
				return err
			}
			s.printf("restored %d files (%s), %d dirs, %d hard links from snapshot %s to %s in %.1fs\n",
				res.Files, snapSize(res.Bytes), res.Dirs, res.Links, sn.ID.Short(), to, time.Since(start).Seconds())
			return nil
		},
	}
}

// snapDuration is a flag taking retention durations ("2d", "36h", "1y2m").
type snapDuration struct{ d *time.Duration }

func (v snapDuration) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return retention.FormatDuration(*v.d)
}
func (v snapDuration) Set(s string) error {
	d, err := retention.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func snapForgetCmd() *command {
	var (
		o      snapOpts
		p      retention.Policy
		dryRun bool
	)
	return &command{
		name:    "forget",
		args:    "[SNAPSHOT...]",
		summary: "forget snapshots by ID or by a keep policy (data goes at the next prune)",
		help: `With SNAPSHOTs, forgets them. With --keep-* flags, groups snapshots by host
and paths, keeps what the policy keeps and forgets the rest; --dry-run shows
each decision and its reason without changing anything. Forgetting deletes
snapshot objects, so it needs store credentials that may delete.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.IntVar(&p.Last, "keep-last", 0, "keep the `N` newest snapshots")
			fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last `N` hours")
			fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last `N` days")
			fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last `N` weeks")
			fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last `N` months")
			fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last `N` years")
			fs.Var(snapDuration{&p.Within}, "keep-within", "keep every snapshot less than `DURATION` (2d, 36h, 1y2m) older than the newest")
			fs.BoolVar(&dryRun, "dry-run", false, "show the decisions, change nothing")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if len(args) > 0 && !p.Empty() {
				return &usageError{msg: "give either SNAPSHOT IDs or --keep-* flags, not both"}
			}
			if len(args) == 0 && p.Empty() {
				return &usageError{msg: "expected SNAPSHOT IDs or a policy (--keep-last, --keep-daily, ...)"}
			}
			if err := p.Validate(); err != nil {
				return &usageError{msg: err.Error()}
			}
			r, err := o.open(ctx, s, false, false)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				all, err := r.Snapshots(ctx)
				if err != nil {
					return err
				}
				var ids []snapshot.ID
				for _, a := range args {
					sn, err := snapshot.Select(all, a)
					if err != nil {
						return err
					}
					ids = append(ids, sn.ID)
					if dryRun {
						s.printf("would forget %s\n", sn.ID.Short())
					}
				}
				if dryRun {
					return nil
				}
				if err := r.Forget(ctx, ids); err != nil {
					return err
				}
				s.printf("forgot %d snapshot(s); run 'tend snapshot prune' to free their data\n", len(ids))
				return nil
			}
			groups, err := r.ForgetPolicy(ctx, p, dryRun)
			if err != nil {
				return err
			}
			forgot := 0
			for _, g := range groups {
				s.printf("host %s, paths %s (policy: %s):\n", g.Host, strings.Join(g.Paths, ","), p)
				for _, d := range g.Decisions {
					t := d.Snapshot.Time.Local().Format("2006-01-02 15:04:05")
					if d.Keep {
						s.printf("  keep    %s  %s  %s\n", d.Snapshot.ID.Short(), t, strings.Join(d.Reasons, ", "))
					} else {
						forgot++
						s.printf("  forget  %s  %s\n", d.Snapshot.ID.Short(), t)
					}
				}
			}
			if dryRun {
				s.printf("dry run: would forget %d snapshot(s)\n", forgot)
			} else {
				s.printf("forgot %d snapshot(s); run 'tend snapshot prune' to free their data\n", forgot)
			}
			return nil
		},
	}
}

func snapPruneCmd() *command {
	var (
		o      snapOpts
		dryRun bool
		minAge time.Duration
	)
	return &command{
		name:    "prune",
		summary: "delete data no snapshot uses (two phases; needs the identity)",
		help: `Each run marks the data no snapshot references, and deletes what an earlier
run marked at least --min-age ago and is still unreferenced, rewriting only
the packs that hold garbage. Run it regularly (e.g. daily). It holds a lease
that expires by itself (10 minutes, renewed while running), so a killed
prune never blocks the next one for long. Safe while creates run.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.BoolVar(&dryRun, "dry-run", false, "show what would be marked and deleted, change nothing")
			fs.DurationVar(&minAge, "min-age", time.Hour, "how long garbage stays marked before deletion; above any clock skew between hosts")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, true)
			if err != nil {
				return err
			}
			if minAge <= 0 {
				minAge = -1 // the library's "no delay"
			}
			res, err := r.Prune(ctx, snapshot.PruneOptions{DryRun: dryRun, MinAge: minAge})
			if err != nil {
				return err
			}
			for _, l := range res.Lines {
				if dryRun {
					l = "would " + l
				}
				s.printf("%s\n", l)
			}
			verb := "freed"
			if dryRun {
				verb = "would free"
			}
			s.printf("%s %s: %d blobs deleted, %d packs deleted, %d rewritten (%s written), %d unindexed packs removed; %d blobs newly marked, %d waiting\n",
				verb, snapSize(uint64(res.FreedBytes)), res.DeletedBlobs, res.DeletedPacks, res.RepackedPacks, snapSize(uint64(res.WrittenBytes)),
				res.OrphanPacks, res.MarkedBlobs, res.Pending)
			return nil
		},
	}
}

// snapFraction is --read-data[=FRACTION]: alone it means all packs.
type snapFraction struct{ f *float64 }

func (v snapFraction) IsBoolFlag() bool { return true }
func (v snapFraction) String() string {
	if v.f == nil {
		return ""
	}
	return strconv.FormatFloat(*v.f, 'g', -1, 64)
}
func (v snapFraction) Set(s string) error {
	switch s {
	case "true":
		*v.f = 1
		return nil
	case "false":
		*v.f = 0
		return nil
	}
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSuffix(s, "%"), 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f/scale <= 0 || f/scale > 1 {
		return fmt.Errorf("want a fraction in (0,1] or a percentage, got %q", s)
	}
	*v.f = f / scale
	return nil
}

func snapCheckCmd() *command {
	var (
		o        snapOpts
		readData float64
	)
	return &command{
		name:    "check",
		summary: "verify the repository; --read-data reads all or a fraction of the data",
		help: `Checks snapshots, index objects and that every pack the index lists exists
with its size, and walks every snapshot to verify that each file's data is
stored. --read-data (all packs) or --read-data=0.1 (a random tenth) also
downloads packs and verifies every blob. Problems name the affected
snapshots and files; any problem exits 1. Without the identity only the
structure that does not need decryption is checked.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.Var(snapFraction{&readData}, "read-data", "read and verify all packs, or `FRACTION` of them (0.1 or 10%)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			_, idErr := secret.Identities(s.getenv)
			r, err := o.open(ctx, s, idErr == nil, false)
			if err != nil {
				return err
			}
			if idErr != nil {
				if readData > 0 {
					return fmt.Errorf("check --read-data: %w", idErr)
				}
				s.logf("no age identity (%v): checking only what needs no decryption", idErr)
			}
			res, err := r.Check(ctx, snapshot.CheckOptions{ReadData: readData})
			if err != nil {
				return err
			}
			for _, p := range res.Problems {
				s.printf("%s\n", p)
			}
			if len(res.Problems) > 0 {
				return hint.Wrap(fmt.Errorf("check: %d problem(s) in %s", len(res.Problems), r.Store()),
					"restore what is affected from another copy, or forget the snapshots named above and run create again")
			}
			s.printf("no problems: %d snapshots, %d packs (%d read), %d blobs\n", res.Snapshots, res.Packs, res.PacksRead, res.Blobs)
			return nil
		},
	}
}

func snapDrillCmd() *command {
	var o snapOpts
	var scratch string
	return &command{
		name:    "drill",
		args:    "[SNAPSHOT]",
		summary: "restore a snapshot (default latest) to a scratch place, verify it, record the result",
		help: `Restores the snapshot into a new directory under --scratch (every blob is
checked against its keyed ID), compares the copy's files and bytes with
what the snapshot recorded, removes the copy, and stores the result under
drills/ in the repository; "tend snapshot list" shows the last one. Needs
the identity: run it from a scheduled CI job.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.StringVar(&scratch, "scratch", os.TempDir(), "where the scratch copy goes (`DIR`)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 1, "[SNAPSHOT]"); err != nil {
				return err
			}
			r, err := o.open(ctx, s, true, false)
			if err != nil {
				return err
			}
			ref := "latest"
			if len(args) == 1 {
				ref = args[0]
			}
			sn, err := r.Find(ctx, ref)
			if err != nil {
				return err
			}
			d, err := r.Drill(ctx, sn, scratch)
			if err != nil {
				return fmt.Errorf("restore drill of snapshot %s FAILED (recorded): %w", sn.ID.Short(), err)
			}
			s.printf("restore drill passed: snapshot %s of %s, %d files (%s) restored and verified in %s\n",
				sn.ID.Short(), sn.Host, d.Files, snapSize(d.Bytes), d.Duration)
			return nil
		},
	}
}
