// Package storeurl opens a store.Store from its URL: file:///path for a
// local directory, s3://bucket/prefix?endpoint=...&region=...&path_style=1&tls=0
// for an S3-compatible server. It is separate from package store because
// the implementations import store.
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"tend/internal/hint"
	"tend/internal/store"
	"tend/internal/store/dir"
	"tend/internal/store/s3"
)

// Open opens the store at rawURL. S3 credentials come from getenv
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally
// AWS_SESSION_TOKEN), never from the URL. Open does not contact an S3
// server; a directory store's directory must exist.
func Open(ctx context.Context, rawURL string, getenv func(string) string) (store.Store, error) {
	_ = ctx // reserved: opening may one day need the network
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL; say it once, without it.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return nil, hint.Wrap(fmt.Errorf("store URL: %w", err), urlHint)
	}
	if u.User != nil {
		return nil, hint.Wrap(fmt.Errorf("store URL %s: credentials in the URL are refused", u.Redacted()),
			"remove them; credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, so that they never appear in process lists or logs")
	}
	switch u.Scheme {
	case "file":
		return openDir(u)
	case "s3":
		cfg, err := S3Config(u)
		if err != nil {
			return nil, err
		}
		cfg.AccessKey = getenv("AWS_ACCESS_KEY_ID")
		cfg.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
		cfg.SessionToken = getenv("AWS_SESSION_TOKEN")
		return s3.Open(cfg)
	case "":
		return nil, hint.Wrap(fmt.Errorf("store URL %q: no scheme", rawURL), urlHint)
	default:
		return nil, hint.Wrap(fmt.Errorf("store URL %q: unsupported scheme %q", rawURL, u.Scheme), urlHint)
	}
}

const urlHint = "use file:///absolute/path or s3://bucket/prefix?endpoint=host:port&region=r&path_style=1&tls=0"

func openDir(u *url.URL) (store.Store, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, hint.Wrap(fmt.Errorf("store URL %s: a file URL cannot name a host (%q)", u, u.Host),
			"write file:///path with three slashes")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("store URL %s: a file URL takes no query or fragment", u)
	}
	if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
		return nil, hint.Wrap(fmt.Errorf("store URL %s: no absolute path", u), "write file:///absolute/path")
	}
	return dir.Open(u.Path)
}

// S3Config reads an s3:// URL's bucket, prefix and parameters (without
// credentials).
func S3Config(u *url.URL) (s3.Config, error) {
	var cfg s3.Config
	if u.Host == "" {
		return cfg, hint.Wrap(fmt.Errorf("store URL %s: no bucket", u), "write s3://bucket/prefix")
	}
	if u.Fragment != "" {
		return cfg, fmt.Errorf("store URL %s: a fragment (#...) is not allowed", u)
	}
	cfg.Bucket = u.Host
	cfg.Prefix = strings.Trim(u.Path, "/")
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cfg, fmt.Errorf("store URL %s: query: %w", u, err)
	}
	known := map[string]bool{"endpoint": true, "region": true, "path_style": true, "tls": true}
	var unknown []string
	for k, v := range q {
		if !known[k] {
			unknown = append(unknown, k)
			continue
		}
		if len(v) != 1 {
			return cfg, fmt.Errorf("store URL %s: parameter %q given %d times", u, k, len(v))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return cfg, hint.Wrap(fmt.Errorf("store URL %s: unknown parameter %q", u, unknown[0]),
			"known parameters: endpoint, region, path_style, tls")
	}
	cfg.Endpoint = q.Get("endpoint")
	if strings.Contains(cfg.Endpoint, "/") {
		return cfg, hint.Wrap(fmt.Errorf("store URL %s: endpoint %q is not host[:port]", u, cfg.Endpoint),
			"give the endpoint without scheme or path; use tls=0 for plain HTTP")
	}
	cfg.Region = q.Get("region")
	if cfg.PathStyle, err = boolParam(q, "path_style", false); err != nil {
		return cfg, fmt.Errorf("store URL %s: %w", u, err)
	}
	tls, err := boolParam(q, "tls", true)
	if err != nil {
		return cfg, fmt.Errorf("store URL %s: %w", u, err)
	}
	cfg.Insecure = !tls
	return cfg, nil
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	if !q.Has(name) {
		return def, nil
	}
	switch q.Get(name) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("parameter %s=%q: want 1 or 0", name, q.Get(name))
}
