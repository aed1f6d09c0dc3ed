// Package snapshot implements tend's deduplicated, encrypted file-snapshot
// repository in an object store: content-defined chunking, keyed blob IDs,
// zstd, per-pack keys wrapped to age recipients, create-only writes so that
// backups need no lock, and a lease-guarded, two-phase prune.
//
// A host holds the store credentials, the age recipients and a host key
// derived from the write key for its name: it can add snapshots in its own
// name and deduplicate against everything stored, but cannot read old file
// data or trees, nor sign a snapshot in another host's name. Reading (restore, ls, diff, check, prune)
// needs an age identity as well. docs/snapshot.md describes the format.
package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"github.com/restic/chunker"

	"tend/internal/hint"
	"tend/internal/snapkey"
	"tend/internal/store"
)

// Object key prefixes under the store.
const (
	keyConfig     = "config"
	prefixData    = "data/"
	prefixIndex   = "index/"
	prefixSnap    = "snapshots/"
	prefixMarks   = "marks/"
	keyLease      = "locks/prune"
	formatVersion = 1
)

// Chunk size bounds: restic's (512 KiB to 8 MiB, 1 MiB on average).
const (
	minChunk = 512 << 10
	maxChunk = 8 << 20
	packSize = 16 << 20 // a pack is closed once it holds this much
)

// Config is the repository's one mutable-never object. It holds no secret:
// KeyCheck is a MAC that tells a wrong write key from a right one.
type Config struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	MinChunk uint      `json:"min_chunk"`
	MaxChunk uint      `json:"max_chunk"`
	KeyCheck string    `json:"key_check"`
	// HostCheck is a MAC with K(check), which host keys carry: it tells
	// a host whether its host key belongs to this repository. Configs
	// written before host keys lack it.
	HostCheck string `json:"host_check,omitempty"`
}

// Keys are what a caller brings to open a repository: the write key or
// a host key, and age keys.
type Keys struct {
	// WriteKey (KeySize bytes) derives blob IDs, the chunker polynomial,
	// the metadata key and every host's MAC key. Administrators hold it.
	WriteKey []byte
	// HostKey, instead of WriteKey, is one host's key (derived from the
	// write key for its name): it creates snapshots in that host's name
	// and verifies only those; prune and check refuse it.
	HostKey *snapkey.Host
	// Recipients receive every pack key; needed to create snapshots.
	Recipients []age.Recipient
	// Identities read packs; needed by restore, ls, diff, check, prune.
	// Hosts do not have them.
	Identities []age.Identity
}

// Repo is an open snapshot repository. Its methods are safe for use by one
// goroutine at a time; several processes may use one repository at once
// (creates never conflict; prune holds a lease).
type Repo struct {
	st   store.Store
	cfg  Config
	k    keys
	pol  chunker.Pol
	rcpt []age.Recipient
	ids  []age.Identity
	// Logf receives progress and warnings (nil: discarded).
	Logf func(format string, a ...any)
}

func (r *Repo) logf(format string, a ...any) {
	if r.Logf != nil {
		r.Logf(format, a...)
	}
}

// Store is the repository's object store.
func (r *Repo) Store() store.Store { return r.st }

// Config returns the repository's configuration.
func (r *Repo) Config() Config { return r.cfg }

// Init creates an empty repository in st for the write key. It refuses a
// store that already holds one.
func Init(ctx context.Context, st store.Store, writeKey []byte, now time.Time) (Config, error) {
	if len(writeKey) != KeySize {
		return Config{}, fmt.Errorf("init: write key must be %d bytes", KeySize)
	}
	var rid [16]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return Config{}, err
	}
	k := deriveKeys(writeKey)
	cfg := Config{Version: formatVersion, ID: hex.EncodeToString(rid[:]), Created: now.UTC(), MinChunk: minChunk, MaxChunk: maxChunk}
	cfg.KeyCheck = k.sign("config", []byte(cfg.ID))
	cfg.HostCheck = signWith(k.check, "config", []byte(cfg.ID))
	data, _ := json.MarshalIndent(cfg, "", "  ")
	err := st.Put(ctx, keyConfig, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
	if store.IsExists(err) {
		return Config{}, hint.Wrap(fmt.Errorf("init %s: a snapshot repository already exists there", st),
			"use it as it is, or choose another store URL or prefix")
	}
	if err != nil {
		return Config{}, fmt.Errorf("init %s: %w", st, err)
	}
	return cfg, nil
}

// Open opens the repository in st. A wrong write key is an error here,
// never a silent loss of deduplication.
func Open(ctx context.Context, st store.Store, ks Keys) (*Repo, error) {
	switch {
	case ks.HostKey != nil && ks.WriteKey != nil:
		return nil, errors.New("open: give the write key or a host key, not both")
	case ks.HostKey == nil && len(ks.WriteKey) != KeySize:
		return nil, fmt.Errorf("open: write key must be %d bytes", KeySize)
	}
	rc, err := st.Get(ctx, keyConfig)
	if store.IsNotFound(err) {
		return nil, hint.Wrap(fmt.Errorf("open %s: no snapshot repository there (no config object)", st),
			"check the store URL, or create the repository with 'tend snapshot init'")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", st, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("open %s: read config: %w", st, err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("open %s: config: %w", st, err)
	}
	if cfg.Version != formatVersion {
		return nil, fmt.Errorf("open %s: repository format %d is not supported (this tend reads %d)", st, cfg.Version, formatVersion)
	}
	if cfg.MinChunk == 0 || cfg.MaxChunk < cfg.MinChunk || cfg.MaxChunk > 64<<20 {
		return nil, fmt.Errorf("open %s: config: bad chunk bounds %d..%d", st, cfg.MinChunk, cfg.MaxChunk)
	}
	var k keys
	if ks.HostKey != nil {
		k = hostKeys(ks.HostKey)
		if cfg.HostCheck == "" {
			return nil, hint.Wrap(fmt.Errorf("open %s: this repository was created before host keys (its config has no host_check), so a host key cannot be checked against it", st),
				"create a new repository with 'tend snapshot init' and a new write key, and give hosts host keys for it ('tend snapshot host-key NAME')")
		}
		if !verifyWith(k.check, "config", []byte(cfg.ID), cfg.HostCheck) {
			return nil, hint.Wrap(fmt.Errorf("open %s: the host key for %s does not match this repository", st, k.host),
				"derive the host key from this repository's write key: tend snapshot host-key "+k.host)
		}
	} else {
		k = deriveKeys(ks.WriteKey)
		if !k.verify("config", []byte(cfg.ID), cfg.KeyCheck) ||
			(cfg.HostCheck != "" && !verifyWith(k.check, "config", []byte(cfg.ID), cfg.HostCheck)) {
			return nil, hint.Wrap(fmt.Errorf("open %s: the write key does not match this repository", st),
				"use the write key given when the repository was created (TEND_SNAPSHOT_KEY or TEND_SNAPSHOT_KEY_FILE)")
		}
	}
	seed := derive(k.chunker, cfg.ID)
	pol, err := chunker.DerivePolynomial(keyStream(seed))
	if err != nil {
		return nil, fmt.Errorf("open %s: chunker polynomial: %w", st, err)
	}
	return &Repo{st: st, cfg: cfg, k: k, pol: pol, rcpt: ks.Recipients, ids: ks.Identities}, nil
}

// errNoIdentity is returned by reading operations on a host's keys.
var errNoIdentity = hint.New("reading snapshot contents needs the age identity, which hosts do not hold",
	"run this where the identity is available (TEND_AGE_KEY or TEND_AGE_KEY_FILE)")

func (r *Repo) needIdentity(what string) error {
	if len(r.ids) == 0 {
		return fmt.Errorf("%s: %w", what, errNoIdentity)
	}
	return nil
}

// HostName is the host a repository opened with a host key creates and
// verifies snapshots for; empty when it was opened with the write key.
func (r *Repo) HostName() string { return r.k.host }

// needWriteKey refuses what must see every host's snapshots (prune,
// check) to a repository opened with a host key.
func (r *Repo) needWriteKey(what string) error {
	if r.k.mac == nil {
		return hint.Wrap(fmt.Errorf("%s: needs the write key: the host key for %s verifies only that host's snapshots", what, r.k.host),
			"run this where the write key is (TEND_SNAPSHOT_KEY or TEND_SNAPSHOT_KEY_FILE), not on a backing-up host")
	}
	return nil
}

func (r *Repo) needRecipients(what string) error {
	if len(r.rcpt) == 0 {
		return hint.Wrap(fmt.Errorf("%s: no age recipients", what),
			"give the recipients (age1... public keys) with --recipients FILE or TEND_SNAPSHOT_RECIPIENTS")
	}
	return nil
}

func packKey(id ID) string {
	s := id.String()
	return prefixData + s[:2] + "/" + s
}

// readAll reads a whole object, bounded.
func (r *Repo) readAll(ctx context.Context, key string, limit int64) ([]byte, error) {
	rc, err := r.st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("object %s is larger than %d bytes", key, limit)
	}
	return b, nil
}

func (r *Repo) putNew(ctx context.Context, key string, data []byte) error {
	err := r.st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{CreateOnly: true})
	if store.IsExists(err) {
		return errors.New("object " + key + " already exists")
	}
	return err
}
