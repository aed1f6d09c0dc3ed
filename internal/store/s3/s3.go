// Package s3 implements store.Store on any S3-compatible server with
// minio-go. Create-only writes are conditional PUTs (If-None-Match: *), so
// the server, not the client, decides which of racing writers wins.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"tend/internal/hint"
	"tend/internal/store"
)

// DefaultEndpoint is used when Config.Endpoint is empty.
const DefaultEndpoint = "s3.amazonaws.com"

// PartSize is the size of the parts of a multipart upload, used for objects
// larger than one part and for objects of unknown size (at most 10,000
// parts, so 160 GiB). One part is held in memory per upload.
const PartSize = 16 << 20

// Config says where a store is and how to reach it.
type Config struct {
	Bucket string
	Prefix string // "" or a key prefix without leading or trailing slash
	// Endpoint is host[:port]; DefaultEndpoint when empty.
	Endpoint string
	Region   string // "us-east-1" when empty
	// PathStyle forces path-style requests (http://endpoint/bucket/key),
	// which most self-hosted servers need; otherwise minio-go chooses.
	PathStyle bool
	// Insecure speaks plain HTTP instead of HTTPS (for servers on loopback).
	Insecure bool

	AccessKey    string
	SecretKey    string // never logged or put in errors
	SessionToken string // optional

	// MaxRetries bounds minio-go's retries of a failed request; 0 keeps
	// its default (10, with backoff).
	MaxRetries int
}

// Store is a store.Store in a bucket, under an optional prefix.
type Store struct {
	cfg    Config
	prefix string // "" or ending in "/"
	client *minio.Client
	name   string
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Protected = (*Store)(nil)
)

// Open returns the store described by cfg. It does not contact the server.
func Open(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: no bucket")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	s := &Store{cfg: cfg}
	s.name = s.url()
	if cfg.Prefix != "" {
		if err := store.ValidPrefix(cfg.Prefix + "/"); err != nil {
			return nil, fmt.Errorf("store %s: %w", s.name, err)
		}
		s.prefix = cfg.Prefix + "/"
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, hint.Wrap(fmt.Errorf("store %s: no credentials", s.name),
			"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (on hosts, tend writes them to an envdir)")
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	tr, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	// A server that refuses a conditional PUT may answer 412 before reading
	// the body and close the connection; the client then sees "connection
	// reset" instead of the answer. Asking for 100-continue lets the server
	// refuse before the body is sent. A server that ignores Expect costs
	// ExpectContinueTimeout per create-only PUT.
	tr.ExpectContinueTimeout = time.Second
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Transport:    expectContinue{tr},
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	s.client = client
	return s, nil
}

// url renders the store as the URL that opens it, without credentials.
func (s *Store) url() string {
	u := url.URL{Scheme: "s3", Host: s.cfg.Bucket, Path: "/" + s.cfg.Prefix}
	q := url.Values{}
	if s.cfg.Endpoint != DefaultEndpoint {
		q.Set("endpoint", s.cfg.Endpoint)
	}
	if s.cfg.Region != "us-east-1" {
		q.Set("region", s.cfg.Region)
	}
	if s.cfg.PathStyle {
		q.Set("path_style", "1")
	}
	if s.cfg.Insecure {
		q.Set("tls", "0")
	}
	u.RawQuery = q.Encode()
	return strings.TrimSuffix(u.String(), "/")
}

// String returns the store's URL, without credentials.
func (s *Store) String() string { return s.name }

func (s *Store) fail(op, key string, err error) error {
	return &store.Error{Store: s.name, Op: op, Key: key, Err: err}
}

// translate maps a minio-go error to the store's sentinels and adds hints.
// A 404 counts as "not found" only when the server said NoSuchKey and the
// bucket exists: a missing bucket (a typo, a deleted bucket) must never
// look like a missing object.
func (s *Store) translate(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return s.fail(op, key, ctx.Err())
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return s.fail(op, key, err)
	}
	switch {
	case resp.Code == minio.NoSuchKey:
		ok, berr := s.client.BucketExists(ctx, s.cfg.Bucket)
		if berr != nil {
			return s.fail(op, key, fmt.Errorf("object absent, but checking the bucket failed: %w", berr))
		}
		if !ok {
			return s.bucketMissing(op, key)
		}
		return s.fail(op, key, store.ErrNotFound)
	case resp.Code == minio.NoSuchBucket:
		return s.bucketMissing(op, key)
	case resp.StatusCode == http.StatusPreconditionFailed && op == "put":
		return s.fail(op, key, store.ErrExists)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable || resp.Code == "InvalidRange":
		return s.fail(op, key, store.ErrRange)
	case resp.StatusCode == http.StatusForbidden && isLockRefusal(resp):
		// The bucket's Object Lock retains an existing object. For a
		// create-only Put that means the key is taken.
		if op == "put" && createOnly(ctx) {
			return s.fail(op, key, store.ErrExists)
		}
		return s.fail(op, key, fmt.Errorf("%w (%s)", store.ErrLocked, resp.Message))
	case resp.StatusCode == http.StatusForbidden || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch":
		return hint.Wrap(s.fail(op, key, fmt.Errorf("%s: %s", resp.Code, resp.Message)),
			"check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and what the key may do on this bucket")
	}
	msg := resp.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return s.fail(op, key, fmt.Errorf("%s (HTTP %d): %s", resp.Code, resp.StatusCode, msg))
}

// createOnlyKey marks the context of a create-only Put for translate.
type createOnlyKey struct{}

func createOnly(ctx context.Context) bool { v, _ := ctx.Value(createOnlyKey{}).(bool); return v }

// isLockRefusal tells an Object Lock refusal from other 403s: S3 answers
// AccessDenied with a message naming the lock (AWS: "... object lock";
// versitygw: "Access Denied because object protected by object lock.").
func isLockRefusal(resp minio.ErrorResponse) bool {
	return resp.Code == "AccessDenied" && strings.Contains(strings.ToLower(resp.Message), "object lock") ||
		resp.Code == "ObjectLocked"
}

func (s *Store) bucketMissing(op, key string) error {
	return hint.Wrap(s.fail(op, key, fmt.Errorf("bucket %q does not exist", s.cfg.Bucket)),
		"create the bucket, or check the bucket name and endpoint in the store URL")
}

// MaxCreateOnlySize is the largest create-only object: a create-only Put is
// always one PUT request, because the servers tested (versitygw, rclone)
// ignore If-None-Match when completing a multipart upload, and S3 limits
// one PUT to 5 GiB.
const MaxCreateOnlySize = 5 << 30

// Put uploads the object in one request, or in parts of PartSize when it
// is larger or of unknown size. A create-only Put sends If-None-Match: * in
// a single PUT: of unknown size, it is read into memory first, up to
// PartSize; larger ones need their size.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	if err := store.ValidKey(key); err != nil {
		return s.fail("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return s.fail("put", key, err)
	}
	popts := minio.PutObjectOptions{PartSize: PartSize}
	if opts.CreateOnly {
		popts.SetMatchETagExcept("*")
		popts.DisableMultipart = true
		if size < 0 {
			buf, err := io.ReadAll(io.LimitReader(r, PartSize+1))
			if err != nil {
				return s.fail("put", key, err)
			}
			if len(buf) > PartSize {
				return s.fail("put", key, fmt.Errorf("create-only object of unknown size is larger than %d MiB: give its size", PartSize>>20))
			}
			r, size = bytes.NewReader(buf), int64(len(buf))
		}
		if size > MaxCreateOnlySize {
			return s.fail("put", key, fmt.Errorf("create-only object of %d bytes is larger than %d GiB, the limit of one PUT", size, MaxCreateOnlySize>>30))
		}
	}
	// versitygw answers 409 ExistingObjectIsDirectory when a concurrent
	// Delete removed the now-empty parent directory of an upload in flight
	// (seen with versitygw 1.8.0); nothing was stored, so a seekable body
	// is sent again.
	seeker, _ := r.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	if opts.CreateOnly {
		ctx = context.WithValue(ctx, createOnlyKey{}, true)
	}
	for attempt := 0; ; attempt++ {
		_, err := s.client.PutObject(ctx, s.cfg.Bucket, s.prefix+key, r, size, popts)
		var resp minio.ErrorResponse
		if err != nil && seeker != nil && attempt < 5 && errors.As(err, &resp) && resp.Code == "ExistingObjectIsDirectory" {
			if _, serr := seeker.Seek(start, io.SeekStart); serr == nil {
				time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
				continue
			}
		}
		return s.translate(ctx, "put", key, err)
	}
}

// expectContinue adds "Expect: 100-continue" to conditional PUTs.
type expectContinue struct{ rt http.RoundTripper }

func (e expectContinue) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Header.Get("If-None-Match") != "" && req.ContentLength != 0 {
		req = req.Clone(req.Context())
		req.Header.Set("Expect", "100-continue")
	}
	return e.rt.RoundTrip(req)
}

// Get downloads the object; the request is made before Get returns, so a
// missing object is reported here and not by the first Read.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.get(ctx, key, minio.GetObjectOptions{})
}

// GetRange downloads bytes off..off+n-1 of the object.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 || off+n < off {
		return nil, s.fail("get", key, fmt.Errorf("bytes %d+%d: %w", off, n, store.ErrRange))
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, s.fail("get", key, err)
	}
	rc, err := s.get(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	// Servers answer a range running past the end with the bytes they have;
	// the contract says that is an error, so demand exactly n bytes.
	return &exactReader{rc: rc, left: n}, nil
}

func (s *Store) get(ctx context.Context, key string, opts minio.GetObjectOptions) (io.ReadCloser, error) {
	if err := store.ValidKey(key); err != nil {
		return nil, s.fail("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, s.fail("get", key, err)
	}
	core := minio.Core{Client: s.client}
	rc, _, _, err := core.GetObject(ctx, s.cfg.Bucket, s.prefix+key, opts)
	if err != nil {
		return nil, s.translate(ctx, "get", key, err)
	}
	return rc, nil
}

// exactReader returns io.ErrUnexpectedEOF when the body ends early.
type exactReader struct {
	rc   io.ReadCloser
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.rc.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("ranged read: %w", io.ErrUnexpectedEOF)
	}
	if e.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (e *exactReader) Close() error { return e.rc.Close() }

// Stat asks for the object's metadata (HEAD).
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := store.ValidKey(key); err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return store.Info{}, s.translate(ctx, "stat", key, err)
	}
	return store.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List pages through ListObjectsV2, which S3 defines to be in byte order.
// Objects under the prefix whose names are not valid keys (written by other
// tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := store.ValidPrefix(prefix); err != nil {
		return s.fail("list", prefix, err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.client.ListObjects(lctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true})
	defer func() {
		cancel()
		for range ch {
		}
	}()
	for oi := range ch {
		if oi.Err != nil {
			return s.translate(ctx, "list", prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || store.ValidKey(key) != nil {
			continue
		}
		if err := fn(store.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return s.fail("list", prefix, err)
	}
	return nil
}

// Delete removes the object; S3 answers success for a missing one.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidKey(key); err != nil {
		return s.fail("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return s.fail("delete", key, err)
	}
	// Governance-mode retention lets a key allowed s3:BypassGovernanceRetention
	// (the administrators', never a host's) delete; others are refused.
	err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.prefix+key, minio.RemoveObjectOptions{GovernanceBypass: true})
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.Code == minio.NoSuchKey {
			return nil
		}
	}
	return s.translate(ctx, "delete", key, err)
}

// CreateBucket creates the store's bucket if it does not exist. Tests and
// `tend` setup commands use it; backups never need it.
func (s *Store) CreateBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.translate(ctx, "create bucket", "", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	return s.translate(ctx, "create bucket", "", err)
}

// CreateLockedBucket creates the store's bucket with Object Lock enabled,
// which AWS allows only at creation; Protect then sets its retention. An
// existing bucket is an error: its lock cannot be switched on this way.
func (s *Store) CreateLockedBucket(ctx context.Context) error {
	err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region, ObjectLocking: true})
	return s.translate(ctx, "create bucket", "", err)
}
