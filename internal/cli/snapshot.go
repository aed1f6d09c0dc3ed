package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"tend/internal/hint"
	"tend/internal/seal"
	"tend/internal/secret"
	"tend/internal/snapkey"
	"tend/internal/snapshot"
	"tend/internal/store/storeurl"
)

// This file holds what the snapshot commands share: the group, the
// environment, and opening the repository. Each subcommand has its own
// file, snapshot_<name>.go.

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
(TEND_SNAPSHOT_KEY, 64 hex digits, or the file TEND_SNAPSHOT_KEY_FILE); a
backing-up host holds instead its host key (from 'tend snapshot host-key'),
which creates and lists that host's snapshots only.
create needs the age recipients (--recipients FILE or
TEND_SNAPSHOT_RECIPIENTS); ls, diff, restore, prune and check need the age
identity (TEND_AGE_KEY or TEND_AGE_KEY_FILE), which hosts do not hold.
See docs/snapshot.md.`,
		subs: []*command{
			snapInitCmd(), snapCreateCmd(), snapListCmd(), snapLsCmd(), snapDiffCmd(),
			snapRestoreCmd(), snapForgetCmd(), snapPruneCmd(), snapCheckCmd(), snapDrillCmd(), snapHostKeyCmd(),
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

// snapKeys reads the repository's key from the environment: the write
// key (64 hex digits) or a host key (tend-snapshot-host-1:...). ok is
// false when neither variable is set.
func snapKeys(s *session) (ks snapshot.Keys, ok bool, err error) {
	text, from := s.getenv(envSnapKey), envSnapKey
	if text == "" {
		p := s.getenv(envSnapKeyFile)
		if p == "" {
			return ks, false, nil
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return ks, false, nil
		}
		if err != nil {
			return ks, true, fmt.Errorf("snapshot key file: %w", err)
		}
		text, from = string(data), "snapshot key file "+p
	}
	if snapkey.IsHostKey(text) {
		h, err := snapkey.ParseHost(text)
		if err != nil {
			return ks, true, hint.Wrap(fmt.Errorf("%s: %w", from, err), "set it again from 'tend snapshot host-key NAME'")
		}
		return snapshot.Keys{HostKey: h}, true, nil
	}
	k, err := snapshot.ParseKey(text)
	if err != nil {
		return ks, true, hint.Wrap(fmt.Errorf("%s: %w", from, err), "set it to the key 'tend snapshot init' wrote, or to a host key from 'tend snapshot host-key NAME'")
	}
	return snapshot.Keys{WriteKey: k}, true, nil
}

// snapWriteKey reads the write key from the environment, refusing a host
// key; ok is false when neither variable is set.
func snapWriteKey(s *session, what string) (key []byte, ok bool, err error) {
	ks, ok, err := snapKeys(s)
	if err != nil || !ok {
		return nil, ok, err
	}
	if ks.HostKey != nil {
		return nil, true, hint.New(what+" needs the write key, and "+envSnapKey+" holds the host key for "+ks.HostKey.Name,
			"run this where the write key is, with "+envSnapKey+" or "+envSnapKeyFile+" set to it")
	}
	return ks.WriteKey, true, nil
}

const snapKeyHint = "set " + envSnapKey + " (64 hex digits) or " + envSnapKeyFile + " to the write key 'tend snapshot init' wrote (or, on a backing-up host, to its host key)"

// open opens the repository. needID: the command reads contents and needs
// the identity; wantRcpt: it writes packs and needs recipients.
func (o *snapOpts) open(ctx context.Context, s *session, needID, wantRcpt bool) (*snapshot.Repo, error) {
	u, err := o.storeURL(s)
	if err != nil {
		return nil, err
	}
	ks, ok, err := snapKeys(s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, hint.New("no snapshot write key", snapKeyHint)
	}
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
			rs = snapshot.IdentityRecipients(ks.Identities)
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

// snapCacheDir is where create keeps its cache when --cache is not given.
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

// snapJSONOut is a snapshot as create and list print it with --json.
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
