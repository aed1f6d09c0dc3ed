package s3_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"tend/internal/hint"
	"tend/internal/store"
	"tend/internal/store/s3"
	"tend/internal/store/storetest"
	"tend/internal/store/storeurl"
)

func TestConformance(t *testing.T) {
	for _, kind := range storetest.S3Servers {
		t.Run(kind, func(t *testing.T) {
			srv := storetest.StartS3(t, kind)
			storetest.Run(t, func(t *testing.T) store.Store { return srv.NewStore(t) })
		})
	}
}

// A store at the root of a bucket (no prefix), opened from its URL.
func TestBucketRoot(t *testing.T) {
	for _, kind := range storetest.S3Servers {
		t.Run(kind, func(t *testing.T) {
			srv := storetest.StartS3(t, kind)
			bucket := srv.NewBucket(t)
			ctx := context.Background()
			st, err := storeurl.Open(ctx, srv.URL(bucket, ""), srv.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "top", strings.NewReader("x"), 1, store.PutOptions{CreateOnly: true}); err != nil {
				t.Fatal(err)
			}
			// A second store under a prefix of the same bucket sees only its own keys.
			sub, err := storeurl.Open(ctx, srv.URL(bucket, "sub/dir"), srv.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Put(ctx, "inner", strings.NewReader("y"), 1, store.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			var inSub, inRoot []string
			sub.List(ctx, "", func(i store.Info) error { inSub = append(inSub, i.Key); return nil })
			st.List(ctx, "", func(i store.Info) error { inRoot = append(inRoot, i.Key); return nil })
			if strings.Join(inSub, ",") != "inner" || strings.Join(inRoot, ",") != "sub/dir/inner,top" {
				t.Errorf("List in sub = %q, in root = %q", inSub, inRoot)
			}
		})
	}
}

// Failures that are not "this object does not exist" must never look like
// it: PostgreSQL's restore_command would end recovery early.
func TestOtherErrorsAreNotNotFound(t *testing.T) {
	for _, kind := range storetest.S3Servers {
		t.Run(kind, func(t *testing.T) {
			srv := storetest.StartS3(t, kind)
			bucket := srv.NewBucket(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			noBucket := srv.Config("no-such-bucket", "p")
			wrongKey := srv.Config(bucket, "p")
			wrongKey.SecretKey = "wrong-secret"
			downCfg := srv.Config(bucket, "p")
			downCfg.Endpoint = closedPort(t)
			downCfg.MaxRetries = 1
			for _, tt := range []struct {
				name     string
				cfg      s3.Config
				wantHint bool
			}{
				{"missing bucket", noBucket, true},
				{"wrong secret", wrongKey, true},
				{"server down", downCfg, false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					st, err := s3.Open(tt.cfg)
					if err != nil {
						t.Fatal(err)
					}
					_, err = st.Get(ctx, "wal/000000010000000000000001")
					if err == nil || store.IsNotFound(err) {
						t.Fatalf("Get = %v, want an error other than not found", err)
					}
					_, err = st.Stat(ctx, "wal/000000010000000000000001")
					if err == nil || store.IsNotFound(err) {
						t.Errorf("Stat = %v, want an error other than not found", err)
					}
					if tt.wantHint && hint.Of(err) == "" {
						t.Errorf("Stat error %q has no hint", err)
					}
					if strings.Contains(err.Error(), "wrong-secret") {
						t.Errorf("error %q shows the secret key", err)
					}
				})
			}
		})
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A short read of a ranged GET is an error even if a server answers a range
// past the end with fewer bytes.
func TestRangePastEnd(t *testing.T) {
	srv := storetest.StartS3(t, "versitygw")
	st := srv.NewStore(t)
	ctx := context.Background()
	if err := st.Put(ctx, "r", strings.NewReader("0123456789"), 10, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := st.GetRange(ctx, "r", 5, 10)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if err == nil {
		t.Error("GetRange(5, 10) of a 10-byte object succeeded")
	}
}

func TestOpenNeedsCredentials(t *testing.T) {
	_, err := s3.Open(s3.Config{Bucket: "b", Endpoint: "127.0.0.1:1"})
	if err == nil || hint.Of(err) == "" || !strings.Contains(hint.Of(err), "AWS_ACCESS_KEY_ID") {
		t.Errorf("Open without credentials = %v (hint %q), want an error hinting at AWS_ACCESS_KEY_ID", err, hint.Of(err))
	}
}

// Create-only PUTs ask for 100-continue; a server that ignored it would make
// each one wait a second. WAL archiving cannot afford that.
func TestCreateOnlyLatency(t *testing.T) {
	for _, kind := range storetest.S3Servers {
		t.Run(kind, func(t *testing.T) {
			srv := storetest.StartS3(t, kind)
			st := srv.NewStore(t)
			ctx := context.Background()
			body := strings.Repeat("x", 64<<10)
			start := time.Now()
			const n = 20
			for i := range n {
				key := "lat/" + strconv.Itoa(i)
				if err := st.Put(ctx, key, strings.NewReader(body), int64(len(body)), store.PutOptions{CreateOnly: true}); err != nil {
					t.Fatal(err)
				}
				err := st.Put(ctx, key, strings.NewReader(body), int64(len(body)), store.PutOptions{CreateOnly: true})
				if !store.IsExists(err) {
					t.Fatalf("second create-only Put = %v, want ErrExists", err)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%d create-only PUT pairs took %v: is 100-continue ignored?", n, d)
			}
		})
	}
}
