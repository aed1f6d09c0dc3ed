package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"tend/internal/store"
	"tend/internal/store/s3"
	"tend/internal/store/storetest"
)

// hostStore opens bucket/prefix with a host account's key.
func hostStore(t *testing.T, srv *storetest.S3Server, bucket, prefix, access, secret string) *s3.Store {
	t.Helper()
	cfg := srv.Config(bucket, prefix)
	cfg.AccessKey, cfg.SecretKey = access, secret
	cfg.MaxRetries = 1
	st, err := s3.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func rawClient(t *testing.T, srv *storetest.S3Server, access, secret string) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""),
		BucketLookup: minio.BucketLookupPath, Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, st store.Store, key, body string, createOnly bool) error {
	t.Helper()
	return st.Put(context.Background(), key, strings.NewReader(body), int64(len(body)), store.PutOptions{CreateOnly: createOnly})
}

func content(t *testing.T, st store.Store, key string) string {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("reading %s back: %v", key, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// The write-only promise on a real server: once tend has protected the
// bucket, a host's own key can add backups but cannot overwrite, delete or
// delete a version of an old one, nor lift the protection.
func TestProtectRefusesHostDestruction(t *testing.T) {
	ctx := context.Background()
	srv := storetest.StartS3(t, "versitygw")
	bucket := srv.NewLockedBucket(t)
	admin := srv.NewStoreFor(t, bucket, "db")
	hostKey, hostSecret := srv.NewAccount(t)

	p, err := admin.Protection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.OK() {
		t.Fatalf("an unprotected bucket passes the check: %+v", p)
	}

	opts := s3.ProtectOptions{Hosts: []string{hostKey}, Lock: s3.Compliance, Retention: 24 * time.Hour}
	if err := admin.Protect(ctx, opts); err != nil {
		t.Fatal(err)
	}
	host := hostStore(t, srv, bucket, "db", hostKey, hostSecret)
	// The host checks its own store with its own key.
	p, err = host.Protection(ctx)
	if err != nil {
		t.Fatalf("host reading its store's protection: %v", err)
	}
	if !p.OK() || p.Lock != s3.Compliance || p.Retention != 24*time.Hour || len(p.Hosts) != 1 || p.Hosts[0] != hostKey {
		t.Fatalf("protection after protect: %+v", p)
	}

	const old = "basebackups/20261201T000000Z/base.tar.zst"
	if err := put(t, host, old, "the original backup", true); err != nil {
		t.Fatalf("a host's first backup: %v", err)
	}
	// Overwrite: a plain PUT, as an attacker would send it.
	err = put(t, host, old, "ransom note", false)
	if err == nil || !store.IsLocked(err) {
		t.Errorf("host overwrite of an old backup: %v, want refused by the lock", err)
	}
	// A create-only PUT of a taken key is "exists", as tend expects.
	if err := put(t, host, old, "again", true); !store.IsExists(err) {
		t.Errorf("create-only put of a taken key: %v, want ErrExists", err)
	}
	if err := host.Delete(ctx, old); err == nil {
		t.Errorf("host delete of an old backup succeeded")
	}
	raw := rawClient(t, srv, hostKey, hostSecret)
	key := "db/" + old
	if err := raw.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{VersionID: "null", GovernanceBypass: true}); err == nil {
		t.Errorf("host delete-version of an old backup succeeded")
	}
	if err := raw.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err == nil {
		t.Errorf("host raw delete succeeded")
	}
	// Lifting the protection is refused too.
	if err := raw.SetBucketPolicy(ctx, bucket, ""); err == nil {
		t.Errorf("host deleted the bucket policy")
	}
	if err := raw.SetObjectLockConfig(ctx, bucket, nil, nil, nil); err == nil {
		t.Errorf("host removed the object lock")
	}
	if err := raw.EnableVersioning(ctx, bucket); err == nil {
		t.Errorf("host changed versioning")
	}
	if got := content(t, admin, old); got != "the original backup" {
		t.Fatalf("the old backup now reads %q", got)
	}
	// A whole-bucket protection covers the store under its prefix too.
	if err := srv.NewStoreFor(t, bucket, "").Protect(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if p, err := host.Protection(ctx); err != nil || !p.OK() {
		t.Fatalf("store under a prefix of a bucket protected whole: %v %+v", err, p)
	}
	// A backup still succeeds.
	if err := put(t, host, "basebackups/20261202T000000Z/base.tar.zst", "the next backup", true); err != nil {
		t.Fatalf("a backup after protection: %v", err)
	}
	// In compliance mode nobody deletes before the retention ends: prune
	// sees ErrLocked and keeps the object.
	if err := admin.Delete(ctx, old); !store.IsLocked(err) {
		t.Errorf("admin delete under compliance retention: %v, want ErrLocked", err)
	}
}

// Governance mode: the administrators' key prunes (it may bypass the
// retention), the host's may not.
func TestProtectGovernance(t *testing.T) {
	ctx := context.Background()
	srv := storetest.StartS3(t, "versitygw")
	bucket := srv.NewLockedBucket(t)
	admin := srv.NewStoreFor(t, bucket, "")
	hostKey, hostSecret := srv.NewAccount(t)
	if err := admin.Protect(ctx, s3.ProtectOptions{Hosts: []string{hostKey}, Lock: s3.Governance, Retention: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	host := hostStore(t, srv, bucket, "", hostKey, hostSecret)
	if err := put(t, host, "wal/000000010000000000000001", "wal", true); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, srv, hostKey, hostSecret)
	if err := raw.RemoveObject(ctx, bucket, "wal/000000010000000000000001", minio.RemoveObjectOptions{GovernanceBypass: true}); err == nil {
		t.Errorf("host bypassed governance retention")
	}
	if err := admin.Delete(ctx, "wal/000000010000000000000001"); err != nil {
		t.Errorf("admin prune under governance: %v", err)
	}
	if _, err := admin.Stat(ctx, "wal/000000010000000000000001"); !store.IsNotFound(err) {
		t.Errorf("after the admin's delete: %v", err)
	}
}

// Protect keeps the statements others put in the bucket policy, and those
// of tend's other stores in the bucket; protecting again replaces only its
// own.
func TestPolicyMerge(t *testing.T) {
	st, err := s3.Open(s3.Config{Bucket: "b", Prefix: "db", AccessKey: "a", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s3.Open(s3.Config{Bucket: "b", Prefix: "files", AccessKey: "a", SecretKey: "s"})
	opts := s3.ProtectOptions{Hosts: []string{"arn:aws:iam::1:user/app"}, Lock: s3.Compliance, Retention: 30 * 24 * time.Hour}
	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"}]}`
	p1, err := other.Policy(foreign, opts)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.Policy(p1, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Hosts = []string{"arn:aws:iam::1:user/db"}
	p3, err := st.Policy(p2, opts)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Sid    string
			Effect string
		}
	}
	if err := json.Unmarshal([]byte(p3), &doc); err != nil {
		t.Fatal(err)
	}
	sids := map[string]int{}
	for _, s := range doc.Statement {
		sids[s.Sid]++
	}
	if sids["Theirs"] != 1 || len(doc.Statement) != 9 {
		t.Fatalf("merged policy has %d statements %v:\n%s", len(doc.Statement), sids, p3)
	}
	if strings.Count(p3, "user/app") != 4 || strings.Count(p3, "user/db") != 4 {
		t.Errorf("re-protecting did not replace the store's own statements only:\n%s", p3)
	}
	if !bytes.Contains([]byte(p3), []byte(`"arn:aws:s3:::b/db/*"`)) {
		t.Errorf("object statements do not cover the store's prefix:\n%s", p3)
	}
	for _, bad := range []s3.ProtectOptions{
		{Lock: s3.Compliance, Retention: 24 * time.Hour},
		{Hosts: []string{"*"}, Lock: s3.Compliance, Retention: 24 * time.Hour},
		{Hosts: []string{"h"}, Lock: "WEAK", Retention: 24 * time.Hour},
		{Hosts: []string{"h"}, Lock: s3.Compliance, Retention: time.Hour},
	} {
		if _, err := st.Policy("", bad); err == nil {
			t.Errorf("Policy accepted %+v", bad)
		}
	}
	if _, err := st.Policy("not json", opts); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a policy tend cannot read was replaced: %v", err)
	}
}
