package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/store"
	"tend/internal/store/s3"
	"tend/internal/store/storeurl"
)

// The store commands: the protection that the store's server applies, so
// that a backed-up host's key cannot destroy backups (docs/store.md).

func storeCmd() *command {
	return &command{
		name:    "store",
		summary: "protect an object store against the hosts that write to it",
		help: `S3 stores only: a host's key must be able to add backups but never
overwrite, delete or unlock old ones. protect sets the bucket's Object Lock
default retention and a bucket policy that denies the hosts' keys every
delete and every change to the lock, versioning, lifecycle and policy; run it
with the administrators' key (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
check reads that back, with any key, and fails when the protection is off.
See docs/store.md.`,
		subs: []*command{storeProtectCmd(), storeCheckCmd()},
	}
}

func openS3(ctx context.Context, s *session, u string) (*s3.Store, error) {
	st, err := storeurl.Open(ctx, u, s.getenv)
	if err != nil {
		return nil, err
	}
	s3st, ok := st.(*s3.Store)
	if !ok {
		return nil, hint.New(fmt.Sprintf("store %s: only S3 stores can be protected by their server", st),
			"a directory store is write-only only when another user or machine owns it: keep backups on a storage host that pulls them (tend replica)")
	}
	return s3st, nil
}

func storeProtectCmd() *command {
	var hosts stringList
	lock := "compliance"
	retain := 30 * 24 * time.Hour
	var printOnly, create, conditional bool
	return &command{
		name:    "protect",
		args:    "URL",
		summary: "set the bucket's Object Lock and a policy that denies hosts' keys deletes",
		help: `--host names each backed-up host's key as the server's bucket policies
name principals: an IAM ARN on AWS (arn:aws:iam::ACCOUNT:user/NAME), the
account's access key on versitygw. --lock compliance (the default) lets
nobody delete an object before its retention ends, so prune deletes it on a
later run; governance lets keys allowed s3:BypassGovernanceRetention (the
administrators') prune at once. Keep the retention shorter than what your
keep policy keeps. --print shows the policy and changes nothing.
--conditional-writes adds a statement refusing the hosts any PUT without
If-None-Match, for servers that evaluate s3:if-none-match (AWS S3): there,
Object Lock keeps the old version of an overwritten object but the new one is
what readers see.`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&hosts, "host", "a host key's `PRINCIPAL` (repeat for each host)")
			fs.StringVar(&lock, "lock", lock, "Object Lock `MODE`: compliance or governance")
			fs.Var((*durationFlag)(&retain), "retention", "default `RETENTION` of every object, whole days (30d)")
			fs.BoolVar(&printOnly, "print", false, "print the bucket policy and lock that would be set, change nothing")
			fs.BoolVar(&create, "create", false, "create the bucket, with Object Lock enabled, when it does not exist")
			fs.BoolVar(&conditional, "conditional-writes", false, "also deny hosts any PUT without If-None-Match (AWS S3)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "the store URL"); err != nil {
				return err
			}
			st, err := openS3(ctx, s, args[0])
			if err != nil {
				return err
			}
			o := s3.ProtectOptions{Hosts: hosts, Lock: strings.ToUpper(lock), Retention: retain, ConditionalWrites: conditional}
			if printOnly {
				doc, err := st.Policy("", o)
				if err != nil {
					return err
				}
				s.printf("object lock: %s, default retention %d days\nbucket policy (tend's statements; others in the bucket's policy are kept):\n%s\n",
					strings.ToLower(o.Lock), int(retain/(24*time.Hour)), doc)
				return nil
			}
			if create {
				if err := st.CreateLockedBucket(ctx); err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
					return err
				}
			}
			if err := st.Protect(ctx, o); err != nil {
				return err
			}
			p, err := st.Protection(ctx)
			if err != nil {
				return err
			}
			if !p.OK() {
				return fmt.Errorf("store %s: protection set, but reading it back says: %s", st, p.Summary())
			}
			s.printf("protected %s: %s\n", st, p.Summary())
			return nil
		},
	}
}

func storeCheckCmd() *command {
	var asJSON bool
	return &command{
		name:    "check",
		args:    "URL...",
		summary: "check that each store's server refuses hosts' deletes and overwrites",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print the protection of each store as JSON")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, -1, "one or more store URLs"); err != nil {
				return err
			}
			var all []*store.Protection
			bad := 0
			for _, u := range args {
				st, err := openS3(ctx, s, u)
				if err != nil {
					return err
				}
				p, err := st.Protection(ctx)
				if err != nil {
					return err
				}
				all = append(all, p)
				if !p.OK() {
					bad++
				}
				if !asJSON {
					mark := "ok  "
					if !p.OK() {
						mark = "FAIL"
					}
					s.printf("%s %s: %s\n", mark, p.Store, p.Summary())
				}
			}
			if asJSON {
				if err := s.printJSON(all); err != nil {
					return err
				}
			}
			if bad > 0 {
				return hint.New(fmt.Sprintf("%d of %d stores are not protected against the hosts' keys", bad, len(args)),
					"run tend store protect URL --host PRINCIPAL with the administrators' key")
			}
			return nil
		},
	}
}
