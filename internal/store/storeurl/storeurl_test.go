package storeurl

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tend/internal/hint"
	"tend/internal/store/s3"
)

func TestS3Config(t *testing.T) {
	tests := []struct {
		url  string
		want s3.Config
	}{
		{"s3://bucket", s3.Config{Bucket: "bucket"}},
		{"s3://bucket/", s3.Config{Bucket: "bucket"}},
		{"s3://bucket/pg/main/", s3.Config{Bucket: "bucket", Prefix: "pg/main"}},
		{"s3://b/p?endpoint=127.0.0.1:7070&region=fr-par&path_style=1&tls=0",
			s3.Config{Bucket: "b", Prefix: "p", Endpoint: "127.0.0.1:7070", Region: "fr-par", PathStyle: true, Insecure: true}},
		{"s3://b?path_style=true&tls=true", s3.Config{Bucket: "b", PathStyle: true}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := S3Config(u)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "topsecret"}
	getenv := func(k string) string { return env[k] }
	dir := t.TempDir()
	tests := []struct {
		url, want string
	}{
		{"", "no scheme"},
		{"/var/backups", "no scheme"},
		{"ftp://host/x", `unsupported scheme "ftp"`},
		{"file://host/x", "cannot name a host"},
		{"file:relative", "no absolute path"},
		{"file://" + dir + "/missing", "does not exist"},
		{"file://" + dir + "?x=1", "no query"},
		{"s3:///prefix", "no bucket"},
		{"s3://b/p?endpoint=http://h:1", "not host[:port]"},
		{"s3://b/p?tls=maybe", `tls="maybe"`},
		{"s3://b/p?acl=public", `unknown parameter "acl"`},
		{"s3://b/p?region=a&region=b", "given 2 times"},
		{"s3://AKIA:hunter2@b/p", "credentials in the URL are refused"},
		{"s3://b/a//c", "invalid prefix"},
		{"s3://b/../c", "invalid prefix"},
		{"s3://b/p#frag", "fragment"},
		{"s3://b/%zz", "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := Open(context.Background(), tt.url, getenv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tt.want)
			}
			for _, secret := range []string{"hunter2", "topsecret"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(hint.Of(err), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(context.Background(), "file://"+dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "file://"+dir {
		t.Errorf("String() = %q", st.String())
	}
	_, err = Open(context.Background(), "s3://b/p?endpoint=127.0.0.1:1", func(string) string { return "" })
	if err == nil || !strings.Contains(hint.Of(err), "AWS_ACCESS_KEY_ID") {
		t.Errorf("Open without credentials = %v (hint %q)", err, hint.Of(err))
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	const u = "s3://b/p/q?endpoint=127.0.0.1%3A7070&path_style=1&region=eu&tls=0"
	st, err = Open(context.Background(), u, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != u {
		t.Errorf("String() = %q, want %q", st.String(), u)
	}
}
