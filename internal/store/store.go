// Package store defines tend's object store: a flat namespace of immutable
// objects addressed by slash-separated keys, with create-only writes so that
// backups need no lock. Implementations live in store/dir (a local
// directory) and store/s3 (any S3-compatible server); store/storeurl opens
// either from a URL, and store/storetest holds the conformance suite that
// every implementation passes.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound means the object does not exist. Only a store that answered
// "no such object" returns it: a network failure, a missing bucket or a
// missing store directory are other errors, because callers such as
// PostgreSQL's restore_command must never mistake an outage for absence.
var ErrNotFound = errors.New("not found")

// ErrExists means a create-only Put found the key already present.
var ErrExists = errors.New("already exists")

// ErrLocked means the server refused to delete or replace an object
// because of the store's own protection (S3 Object Lock retention): the
// object stays until its retention ends. Prune and forget count such
// objects as kept and leave them to a later run; it is not a failure.
var ErrLocked = errors.New("kept by the store's object lock")

// IsLocked reports whether err says the store's object lock refused it.
func IsLocked(err error) bool { return errors.Is(err, ErrLocked) }

// ErrRange means a ranged read asked for bytes outside the object.
var ErrRange = errors.New("range outside the object")

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsExists reports whether err says a create-only Put found the key taken.
func IsExists(err error) bool { return errors.Is(err, ErrExists) }

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// PutOptions changes how Put writes.
type PutOptions struct {
	// CreateOnly refuses to replace an existing object: Put returns an
	// error wrapping ErrExists and the stored bytes stay as they were.
	// Among concurrent create-only Puts of one key exactly one succeeds.
	CreateOnly bool
}

// Store is an object store. All methods are safe for concurrent use by
// multiple goroutines and processes, honour ctx (a cancelled ctx gives an
// error wrapping ctx.Err() where the implementation can tell), and return
// errors that name the store and the key. Keys must pass ValidKey; an
// invalid key is an error that wraps neither ErrNotFound nor ErrExists.
//
// Portable keys: a key must not also be a directory-like prefix of another
// key ("a" and "a/b"), because the directory store and file-backed S3
// servers cannot hold both.
type Store interface {
	// Put stores size bytes read from r under key. size -1 means unknown
	// (the S3 store then buffers one part at a time, up to 160 GiB in all).
	// r giving fewer bytes than size is an error. The object appears
	// atomically: readers see the old object or the complete new one,
	// never a partial write, and a failed or cancelled Put leaves no
	// object behind (nor replaces an old one). Without CreateOnly, Put
	// replaces an existing object and is idempotent.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error

	// Get opens the object for reading. A missing object is an error
	// wrapping ErrNotFound, reported by Get itself rather than by the first
	// Read. The caller must close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// GetRange opens n bytes of the object starting at offset off. It needs
	// off >= 0, n > 0 and off+n <= size; a range past the end is an error
	// wrapping ErrRange, returned by GetRange or, on some servers, as
	// io.ErrUnexpectedEOF by Read. A missing object wraps ErrNotFound.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

	// Stat describes the object; a missing one is an error wrapping
	// ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// List calls fn for every object whose key starts with prefix (which
	// may be "" or end anywhere, not only at a slash), in increasing byte
	// order of keys. An error from fn stops the listing and is returned as
	// is. Objects put or deleted during the listing may or may not appear.
	List(ctx context.Context, prefix string, fn func(Info) error) error

	// Delete removes the object. Deleting a missing object is not an error,
	// so Delete is idempotent. A store whose object lock still retains the
	// object returns an error wrapping ErrLocked.
	Delete(ctx context.Context, key string) error

	// String names the store for messages, e.g. "s3://bucket/prefix"; it
	// never includes credentials.
	String() string
}

// MaxKeyLen is the longest key accepted, in bytes, leaving room under S3's
// limit of 1024 for a store prefix.
const MaxKeyLen = 900

// MaxSegmentLen is the longest path segment accepted, in bytes: the
// file name limit of Linux filesystems, which the directory store and
// file-backed S3 servers inherit.
const MaxSegmentLen = 255

// tempPrefix starts the names of the directory store's temporary files;
// key segments may not start with it so that no key can collide with one.
const tempPrefix = ".tend-tmp-"

// TempPrefix is the start of names reserved for a store's temporary files.
const TempPrefix = tempPrefix

// ValidKey checks that key can be used with every store: valid UTF-8,
// at most MaxKeyLen bytes, no control characters, slash-separated segments
// of at most MaxSegmentLen bytes that are neither empty, "." nor "..", and
// none starting with TempPrefix.
func ValidKey(key string) error {
	if why := keyProblem(key); why != "" {
		return fmt.Errorf("invalid key %q: %s", clip(key), why)
	}
	return nil
}

// ValidPrefix checks a List prefix: "" or the start of some valid key.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix is a whole key, or ends after a slash or inside a segment
	// ("a/." starts "a/.x"): then it is valid completed by a placeholder.
	if keyProblem(prefix) == "" {
		return nil
	}
	if why := keyProblem(prefix + "x"); why != "" {
		return fmt.Errorf("invalid prefix %q: %s", clip(prefix), why)
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return "control character"
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return "empty path segment (leading, trailing or double slash)"
		case len(seg) > MaxSegmentLen:
			return fmt.Sprintf("path segment longer than %d bytes", MaxSegmentLen)
		case seg == "." || seg == "..":
			return fmt.Sprintf("%q segment", seg)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Sprintf("segments starting with %q are reserved", tempPrefix)
		}
	}
	return ""
}

// clip shortens a key for an error message.
func clip(key string) string {
	if len(key) > 80 {
		return key[:80] + "..."
	}
	return key
}

// Error is a failed store operation: which store, what, which key.
type Error struct {
	Store string // the store's String()
	Op    string // "put", "get", "stat", "list", "delete"
	Key   string // the key, or the prefix for list
	Err   error
}

func (e *Error) Error() string {
	what := e.Op
	if e.Key != "" || e.Op == "list" {
		what += fmt.Sprintf(" %q", e.Key)
	}
	return fmt.Sprintf("store %s: %s: %v", e.Store, what, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Lock modes of S3 Object Lock.
const (
	Compliance = "COMPLIANCE" // nobody deletes or replaces a retained object
	Governance = "GOVERNANCE" // only keys allowed s3:BypassGovernanceRetention can
)

// MinRetention is the shortest default retention that counts as protection.
const MinRetention = 24 * time.Hour

// Protected is a store whose server can itself refuse a backed-up host's
// deletes and overwrites (store/s3); Protection reads whether it does.
type Protected interface {
	Protection(ctx context.Context) (*Protection, error)
}

// Protection is what the server does to keep hosts from destroying the
// store's objects, as the bucket's configuration says.
type Protection struct {
	Store      string        `json:"store"`
	Lock       string        `json:"lock,omitempty"` // Compliance, Governance or "" (none)
	Retention  time.Duration `json:"retention,omitempty"`
	Versioning string        `json:"versioning,omitempty"` // "Enabled", "Suspended" or ""
	// Hosts are the principals tend's deny statements for this store name.
	Hosts []string `json:"hosts,omitempty"`
	// Problems say what is missing; none means protected.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether the store is protected.
func (p *Protection) OK() bool { return len(p.Problems) == 0 }

// Summary is one line: "compliance lock, 30 days, hosts denied delete" or
// the problems.
func (p *Protection) Summary() string {
	if !p.OK() {
		return strings.Join(p.Problems, "; ")
	}
	return fmt.Sprintf("%s lock, %d days; deletes and lock changes denied to %s",
		strings.ToLower(p.Lock), int(p.Retention/(24*time.Hour)), strings.Join(p.Hosts, ", "))
}

// CheckProtection reads, with the caller's own key, whether st's server
// refuses that key's deletes and overwrites. It returns Protection's
// summary ("" for a store with no such protection to read, such as a
// directory store) and, when the protection is off or unreadable, the
// problem to report.
func CheckProtection(ctx context.Context, st Store) (summary, problem string) {
	g, ok := st.(Protected)
	if !ok {
		return "", ""
	}
	p, err := g.Protection(ctx)
	if err != nil {
		return "unknown", "cannot read the store's protection: " + err.Error()
	}
	if !p.OK() {
		return "off", "the store does not protect old backups from this host's key: " + p.Summary()
	}
	return p.Summary(), ""
}
