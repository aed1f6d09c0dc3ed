package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"tend/internal/hint"
	"tend/internal/store"
)

// This file holds the store-side protection that keeps a backed-up host's
// key from destroying backups: S3 Object Lock (a default retention in
// compliance or governance mode), and a bucket policy that lets the hosts'
// keys add and read objects but denies them every delete, every bypass of
// the lock and every change to the lock, versioning, lifecycle and policy.
// tend's own create-only writes are the client's choice; this is the
// server's, which a compromised host cannot change.

// Lock modes of Object Lock.
const (
	Compliance = store.Compliance
	Governance = store.Governance
)

// MinRetention is the shortest default retention Protection accepts.
const MinRetention = store.MinRetention

// ProtectOptions says how to protect a store.
type ProtectOptions struct {
	// Hosts are the principals of the backed-up hosts' keys, as the
	// server's bucket policies name them: on AWS IAM ARNs
	// (arn:aws:iam::ACCOUNT:user/NAME), on versitygw account names.
	Hosts []string
	// Lock is Compliance or Governance; Retention the default retention
	// (whole days, at least MinRetention).
	Lock      string
	Retention time.Duration
	// ConditionalWrites adds a statement denying the hosts any PutObject
	// without If-None-Match, so that an overwrite is refused even where
	// Object Lock makes a new version of it (versioned buckets, AWS). Only
	// servers that evaluate the s3:if-none-match condition key may get it
	// (AWS S3 does); a server that ignores conditions would deny all writes.
	ConditionalWrites bool
}

func (o *ProtectOptions) check() error {
	if len(o.Hosts) == 0 {
		return hint.New("store protection: no host principal", "name the hosts' keys with --host (an IAM ARN on AWS, the account name on versitygw)")
	}
	for _, h := range o.Hosts {
		if h == "" || h == "*" || strings.ContainsAny(h, "\"\\\n") {
			return fmt.Errorf("store protection: host principal %q is not one key's principal", h)
		}
	}
	if o.Lock != Compliance && o.Lock != Governance {
		return fmt.Errorf("store protection: lock mode %q: want compliance or governance", strings.ToLower(o.Lock))
	}
	if o.Retention < MinRetention || o.Retention%(24*time.Hour) != 0 {
		return fmt.Errorf("store protection: retention %s: want whole days, at least one", o.Retention)
	}
	return nil
}

// Statement IDs tend owns in a bucket policy: one set per store prefix,
// so that stores under several prefixes of one bucket keep each other's.
func (s *Store) sid(what string) string {
	h := sha256.Sum256([]byte(s.cfg.Prefix))
	return "Tend" + what + hex.EncodeToString(h[:4])
}

type statement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Principal principal       `json:"Principal"`
	Action    []string        `json:"Action"`
	Resource  []string        `json:"Resource"`
	Condition json.RawMessage `json:"Condition,omitempty"`
}

type principal struct {
	AWS []string `json:"AWS"`
}

// Actions granted to and denied to the hosts.
var (
	hostObjectAllow = []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	hostBucketAllow = []string{"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketVersioning",
		"s3:GetBucketObjectLockConfiguration", "s3:GetBucketPolicy"}
	hostObjectDeny = []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
		"s3:PutObjectLegalHold", "s3:BypassGovernanceRetention", "s3:PutObjectAcl"}
	hostBucketDeny = []string{"s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
		"s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration", "s3:PutBucketAcl"}
)

// statements are tend's statements for this store.
func (s *Store) statements(o ProtectOptions) []statement {
	hosts := slices.Clone(o.Hosts)
	sort.Strings(hosts)
	bucket := "arn:aws:s3:::" + s.cfg.Bucket
	objects := bucket + "/" + s.prefix + "*"
	p := principal{AWS: hosts}
	st := []statement{
		{Sid: s.sid("HostsAdd"), Effect: "Allow", Principal: p, Action: hostObjectAllow, Resource: []string{objects}},
		{Sid: s.sid("HostsList"), Effect: "Allow", Principal: p, Action: hostBucketAllow, Resource: []string{bucket}},
		{Sid: s.sid("HostsNoDelete"), Effect: "Deny", Principal: p, Action: hostObjectDeny, Resource: []string{objects}},
		{Sid: s.sid("HostsNoChange"), Effect: "Deny", Principal: p, Action: hostBucketDeny, Resource: []string{bucket}},
	}
	if o.ConditionalWrites {
		st = append(st, statement{Sid: s.sid("HostsNoOverwrite"), Effect: "Deny", Principal: p, Action: []string{"s3:PutObject"},
			Resource: []string{objects}, Condition: json.RawMessage(`{"Null":{"s3:if-none-match":"true"}}`)})
	}
	return st
}

// Policy returns the bucket policy Protect would set: the bucket's current
// policy (current, "" for none) with tend's statements for this store
// replaced by those of o. Statements of others are kept as they are.
func (s *Store) Policy(current string, o ProtectOptions) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	doc := struct {
		Version   string            `json:"Version"`
		Statement []json.RawMessage `json:"Statement"`
	}{Version: "2012-10-17"}
	if strings.TrimSpace(current) != "" {
		if err := json.Unmarshal([]byte(current), &doc); err != nil {
			return "", fmt.Errorf("store %s: the bucket's policy is not JSON tend can read: %w", s.name, err)
		}
	}
	mine := s.sid("")
	var kept []json.RawMessage
	for _, raw := range doc.Statement {
		var st struct{ Sid string }
		json.Unmarshal(raw, &st)
		if !strings.HasPrefix(st.Sid, "Tend") || !strings.HasSuffix(st.Sid, strings.TrimPrefix(mine, "Tend")) {
			kept = append(kept, raw)
		}
	}
	for _, st := range s.statements(o) {
		b, _ := json.Marshal(st)
		kept = append(kept, b)
	}
	doc.Statement = kept
	if doc.Version == "" {
		doc.Version = "2012-10-17"
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return string(out), err
}

// Protect applies o to the store's bucket: Object Lock with the default
// retention, then the bucket policy. The bucket must have been created with
// Object Lock where the server demands it (AWS: CreateBucket with object
// lock, or versioning on first). Run it with the administrators' key.
func (s *Store) Protect(ctx context.Context, o ProtectOptions) error {
	policy, err := s.currentPolicy(ctx)
	if err != nil {
		return err
	}
	doc, err := s.Policy(policy, o)
	if err != nil {
		return err
	}
	mode := minio.RetentionMode(o.Lock)
	days := uint(o.Retention / (24 * time.Hour))
	unit := minio.Days
	if err := s.client.SetObjectLockConfig(ctx, s.cfg.Bucket, &mode, &days, &unit); err != nil {
		return hint.Wrap(s.translate(ctx, "set object lock", "", err),
			"create the bucket with Object Lock enabled (on AWS: aws s3api create-bucket --object-lock-enabled-for-bucket), or enable versioning and then Object Lock")
	}
	if err := s.client.SetBucketPolicy(ctx, s.cfg.Bucket, doc); err != nil {
		return hint.Wrap(s.translate(ctx, "set bucket policy", "", err),
			"check that each --host names an existing key's principal, as the server names it")
	}
	return nil
}

func (s *Store) currentPolicy(ctx context.Context) (string, error) {
	p, err := s.client.GetBucketPolicy(ctx, s.cfg.Bucket)
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "NoSuchBucketPolicy" || resp.StatusCode == 404 && resp.Code != minio.NoSuchBucket) {
			return "", nil
		}
		return "", s.translate(ctx, "get bucket policy", "", err)
	}
	return p, nil
}

// Protection reads the bucket's Object Lock configuration, versioning and
// policy. A key may read them without being allowed to change them: Protect
// grants the hosts exactly that, so a host can check its own store.
func (s *Store) Protection(ctx context.Context) (*store.Protection, error) {
	p := &store.Protection{Store: s.name}
	enabled, mode, validity, unit, err := s.client.GetObjectLockConfig(ctx, s.cfg.Bucket)
	var resp minio.ErrorResponse
	switch {
	case err == nil && enabled == "Enabled" && mode != nil && validity != nil && unit != nil:
		p.Lock = string(*mode)
		d := time.Duration(*validity) * 24 * time.Hour
		if *unit == minio.Years {
			d *= 365
		}
		p.Retention = d
	case err == nil, errors.As(err, &resp) && (resp.StatusCode == 404 && resp.Code != minio.NoSuchBucket ||
		strings.Contains(resp.Code, "ObjectLockConfiguration")):
	default:
		return nil, s.translate(ctx, "get object lock", "", err)
	}
	if vc, err := s.client.GetBucketVersioning(ctx, s.cfg.Bucket); err == nil {
		p.Versioning = vc.Status
	}
	policy, err := s.currentPolicy(ctx)
	if err != nil {
		return nil, err
	}
	p.Hosts = s.deniedHosts(policy)
	switch {
	case p.Lock == "":
		p.Problems = append(p.Problems, "no Object Lock default retention: a host's key can replace objects")
	case p.Retention < MinRetention:
		p.Problems = append(p.Problems, fmt.Sprintf("Object Lock retention %s is under a day", p.Retention))
	}
	if len(p.Hosts) == 0 {
		p.Problems = append(p.Problems, "the bucket policy does not deny the hosts' keys deletes and lock changes")
	}
	if len(p.Problems) > 0 {
		p.Problems[len(p.Problems)-1] += " (set it up with: tend store protect)"
	}
	return p, nil
}

// deniedHosts returns the principals that the policy's Deny statements
// forbid both every object action hosts must not have, on a resource
// covering this store's objects, and every bucket change, on the bucket.
// Statements are judged by what they say, not by their Sid, so that a
// policy written by hand, or one protect wrote for the whole bucket,
// counts as well.
func (s *Store) deniedHosts(policy string) []string {
	var doc struct{ Statement []json.RawMessage }
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return nil
	}
	bucket := "arn:aws:s3:::" + s.cfg.Bucket
	object := bucket + "/" + s.prefix + "x"
	obj, bkt := map[string]bool{}, map[string]bool{}
	for _, raw := range doc.Statement {
		var st struct {
			Effect    string
			Principal json.RawMessage
			Action    json.RawMessage
			Resource  json.RawMessage
			Condition json.RawMessage
		}
		if json.Unmarshal(raw, &st) != nil || st.Effect != "Deny" || len(st.Condition) > 0 {
			continue
		}
		acts, res := stringList(st.Action), stringList(st.Resource)
		covers := func(target string) bool {
			for _, r := range res {
				if wildcard(r, target) {
					return true
				}
			}
			return false
		}
		if containsAll(acts, hostObjectDeny) && covers(object) {
			for _, p := range principals(st.Principal) {
				obj[p] = true
			}
		}
		if containsAll(acts, hostBucketDeny) && covers(bucket) {
			for _, p := range principals(st.Principal) {
				bkt[p] = true
			}
		}
	}
	var both []string
	for h := range obj {
		if bkt[h] {
			both = append(both, h)
		}
	}
	sort.Strings(both)
	return both
}

func stringList(raw json.RawMessage) []string {
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return l
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	return nil
}

func principals(raw json.RawMessage) []string {
	var p struct{ AWS json.RawMessage }
	if json.Unmarshal(raw, &p) == nil && p.AWS != nil {
		return stringList(p.AWS)
	}
	return stringList(raw)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) && !slices.Contains(have, "s3:*") {
			return false
		}
	}
	return true
}

// wildcard matches s against a policy resource pattern, where '*' stands
// for any run of characters (slashes included) and '?' for one.
func wildcard(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcard(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcard(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && wildcard(pattern[1:], s[1:])
}
