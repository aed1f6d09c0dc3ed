package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"tend/internal/store/s3"
	"tend/internal/testenv"
)

// S3Servers are the real S3-compatible servers the suite runs against;
// scripts/s3servers installs them.
var S3Servers = []string{"versitygw", "rclone"}

// S3Server is a real S3-compatible server running on 127.0.0.1 for one
// test, with its own empty data directory and random credentials.
type S3Server struct {
	Kind      string // "versitygw" or "rclone"
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string

	bin     string
	buckets atomic.Int64
	prefix  atomic.Int64
	shared  string
	once    sync.Once
}

// StartS3 starts a server of kind (one of S3Servers) and stops it when the
// test ends. A missing binary goes through testenv.Need: a skip on a
// developer's machine, a failure under TEND_REQUIRE_REAL=1.
func StartS3(t testing.TB, kind string) *S3Server {
	t.Helper()
	return StartS3At(t, kind, "127.0.0.1")
}

// StartS3At is StartS3 listening on host, which must be an address the
// test itself created: loopback, or the gateway of a lab the test booted
// (so that lab hosts reach the server).
func StartS3At(t testing.TB, kind, host string) *S3Server {
	t.Helper()
	bin, err := testenv.GoBinary(kind)
	testenv.Need(t, kind+" (install with scripts/s3servers)", err)
	srv := &S3Server{Kind: kind, bin: bin, AccessKey: "tend" + randomHex(6), SecretKey: randomHex(20)}
	dir := t.TempDir()
	port, err := testenv.FreePort(host)
	if err != nil {
		t.Fatalf("finding a free port for %s: %v", kind, err)
	}
	srv.Endpoint = net.JoinHostPort(host, strconv.Itoa(port))
	var args []string
	switch kind {
	case "versitygw":
		// The internal IAM service gives NewAccount its user accounts.
		args = []string{"--access", srv.AccessKey, "--secret", srv.SecretKey, "--port", srv.Endpoint,
			"--iam-dir", t.TempDir(), "posix", dir}
	case "rclone":
		args = []string{"serve", "s3", "--addr", srv.Endpoint, "--auth-key", srv.AccessKey + "," + srv.SecretKey,
			"--config", "/dev/null", dir}
	default:
		t.Fatalf("unknown S3 server %q", kind)
	}
	cmd := exec.Command(bin, args...)
	var out testenv.Output
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", kind, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			o := out.String()
			tail := 4096
			if n, err := strconv.Atoi(os.Getenv("TEND_S3_LOG_TAIL")); err == nil {
				tail = n // more of the server's log, to debug a failure
			}
			if len(o) > tail {
				o = "..." + o[len(o)-tail:]
			}
			t.Logf("%s output (end):\n%s", kind, o)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", srv.Endpoint, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before listening on %s: %v\n%s", kind, srv.Endpoint, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within 30s\n%s", kind, srv.Endpoint, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return srv
}

// NewAccount creates a user account on a versitygw server: a key with no
// rights of its own, that may do on a bucket what the bucket's policy
// allows (as a backed-up host's key would). It returns the account's
// access key, which bucket policies name as its principal, and its secret.
func (srv *S3Server) NewAccount(t testing.TB) (access, secret string) {
	t.Helper()
	if srv.Kind != "versitygw" {
		t.Fatalf("NewAccount needs versitygw's IAM, not %s", srv.Kind)
	}
	access, secret = "host"+randomHex(6), randomHex(20)
	cmd := exec.Command(srv.bin, "admin", "--access", srv.AccessKey, "--secret", srv.SecretKey,
		"--endpoint-url", "http://"+srv.Endpoint, "create-user", "--access", access, "--secret", secret, "--role", "user")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("versitygw admin create-user: %v\n%s", err, out)
	}
	return access, secret
}

// NewLockedBucket creates a new empty bucket with Object Lock enabled (no
// default retention yet) and returns its name.
func (srv *S3Server) NewLockedBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("tend-locked-%d", srv.buckets.Add(1))
	st, err := s3.Open(srv.Config(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.CreateLockedBucket(ctx); err != nil {
		t.Fatalf("%s: %v", srv.Kind, err)
	}
	return name
}

// RemoveRetention takes the default retention off a locked bucket, with
// the server's root key, as an administrator repairing a store would:
// tests that damage a protected store on purpose call it first.
func (srv *S3Server) RemoveRetention(t testing.TB, bucket string) {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetObjectLockConfig(context.Background(), bucket, nil, nil, nil); err != nil {
		t.Fatalf("removing the retention of %s: %v", bucket, err)
	}
}

// Getenv answers the AWS credential variables as the store expects them.
func (srv *S3Server) Getenv(name string) string {
	switch name {
	case "AWS_ACCESS_KEY_ID":
		return srv.AccessKey
	case "AWS_SECRET_ACCESS_KEY":
		return srv.SecretKey
	}
	return ""
}

// URL is the store URL of bucket/prefix on this server.
func (srv *S3Server) URL(bucket, prefix string) string {
	u := url.URL{Scheme: "s3", Host: bucket, Path: "/" + prefix,
		RawQuery: url.Values{"endpoint": {srv.Endpoint}, "path_style": {"1"}, "tls": {"0"}}.Encode()}
	return u.String()
}

// Config is the s3.Config of bucket/prefix on this server.
func (srv *S3Server) Config(bucket, prefix string) s3.Config {
	return s3.Config{Bucket: bucket, Prefix: prefix, Endpoint: srv.Endpoint, PathStyle: true, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

// NewBucket creates a new empty bucket and returns its name.
func (srv *S3Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("tend-test-%d", srv.buckets.Add(1))
	st, err := s3.Open(srv.Config(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.CreateBucket(ctx); err != nil {
		t.Fatalf("%s: %v", srv.Kind, err)
	}
	return name
}

// NewStore returns an empty store: a fresh prefix in a bucket shared by
// the server's stores.
func (srv *S3Server) NewStore(t testing.TB) *s3.Store {
	t.Helper()
	srv.once.Do(func() { srv.shared = srv.NewBucket(t) })
	st, err := s3.Open(srv.Config(srv.shared, fmt.Sprintf("store-%d", srv.prefix.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// NewStoreFor opens bucket/prefix on this server.
func (srv *S3Server) NewStoreFor(t testing.TB, bucket, prefix string) *s3.Store {
	t.Helper()
	st, err := s3.Open(srv.Config(bucket, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
