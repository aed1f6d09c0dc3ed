package cli

import (
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"tend/internal/snapshot"
)

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
write key or the host's host key, and the recipients, not the identity, and
takes no lock. With a host key, --host defaults to the key's host and may
not name another. A local
cache (--cache) remembers the last snapshot of the same host and paths, so
that files whose size, mtime, ctime and inode are unchanged are not read.`,
		flags: func(fs *flag.FlagSet) {
			o.flags(fs)
			fs.Var(&excludes, "exclude", "skip files matching `PATTERN` (base name or full path; repeatable)")
			fs.Var(&tags, "tag", "add the label `TAG` (repeatable)")
			fs.StringVar(&host, "host", "", "the host `NAME` recorded, a lower-case host name (default: the host key's, else this machine's host name)")
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
			if host == "" && r.HostName() == "" {
				// The write key: this machine's name, in the one
				// spelling host names have.
				if host, err = os.Hostname(); err != nil {
					return err
				}
				host = strings.ToLower(host)
			}
			switch {
			case noCache:
				cache = ""
			case cache == "":
				cache = snapCacheDir(s)
			}
			start := time.Now()
			sn, err := r.Create(ctx, snapshot.CreateOptions{Paths: args, Excludes: excludes, Host: host, Tags: tags, CacheDir: cache})
			if err != nil {
				return err
			}
			if asJSON {
				return s.printJSON(snapJSON(sn))
			}
			m := sn.Summary
			s.printf("snapshot %s saved: %d files, %d dirs, %s; %d unchanged, read %s, added %s in %d blobs, uploaded %s in %.1fs\n",
				sn.ID.Short(), m.Files, m.Dirs, formatSize(m.Bytes), m.Unchanged, formatSize(m.Read), formatSize(m.NewBytes), m.NewBlobs,
				formatSize(m.Uploaded), time.Since(start).Seconds())
			return nil
		},
	}
}
