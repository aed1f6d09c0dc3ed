package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tend/internal/store"
)

// TestPruneFromHere: tend db prune runs where it is launched and talks to
// the store itself; the database host receives no request for it, and
// neither prune nor a drill sends it the credentials that may delete.
// The host has its own key, which the bucket's policy forbids to delete;
// the delete-capable key is the server's root key, given only to the
// machine running prune. Every request sent to the host's agent is
// searched for it.
func TestPruneFromHere(t *testing.T) {
	p := newPITRLab(t)
	role, err := os.ReadFile(filepath.Join(p.repo, "roles/db/role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p.write("roles/db/role.yaml", strings.Replace(string(role), "keep_count: 2\n    keep_within: 1d", "keep_count: 1\n    keep_within: 1m", 1))
	p.tend("apply", "production")
	p.sql("host1", "CREATE TABLE t (v text)")
	ctx := context.Background()
	st := p.srv.NewStoreFor(t, p.bucket, "pg")
	backups := func() []string {
		seen := map[string]bool{}
		st.List(ctx, "basebackups/", func(i store.Info) error {
			seen[strings.Split(strings.TrimPrefix(i.Key, "basebackups/"), "/")[0]] = true
			return nil
		})
		var ids []string
		for id := range seen {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return ids
	}
	walCount := func() int {
		n := 0
		st.List(ctx, "wal/", func(store.Info) error { n++; return nil })
		return n
	}
	// The backups in the order they were taken: two taken within one
	// second have labels that do not sort by time.
	var before []string
	for i := 0; i < 3; i++ {
		p.sql("host1", fmt.Sprintf("INSERT INTO t VALUES ('%d')", i))
		had := backups()
		p.tend("db", "backup", "production")
		for _, id := range backups() {
			if !slices.Contains(had, id) {
				before = append(before, id)
			}
		}
		p.switchAndWait("host1", false)
	}
	if len(before) != 3 {
		t.Fatalf("backups before prune: %v", before)
	}
	walBefore := walCount()
	// Judged two minutes later, all are out of keep_within: only keep_count
	// keeps (the clock is moved, not waited for).
	pruneNow = func() time.Time { return time.Now().Add(2 * time.Minute) }
	defer func() { pruneNow = time.Now }()

	var mu sync.Mutex
	var sent []string
	sentToHost = func(host string, req []byte) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, host+": "+string(req))
	}
	defer func() { sentToHost = nil }()
	// The delete-capable credentials, in the environment of the machine
	// running tend db prune (a CI secret).
	p.env["AWS_ACCESS_KEY_ID"] = p.srv.AccessKey
	p.env["AWS_SECRET_ACCESS_KEY"] = p.srv.SecretKey

	out, errOut, code := p.run("", append([]string{"db", "prune", "production"}, p.lab...)...)
	if code != ExitChanges || !strings.Contains(out, "would delete "+before[0]) || !strings.Contains(out, "would delete "+before[1]) ||
		!strings.Contains(out, "keep    "+before[2]) || !strings.Contains(out, "run again with --yes") {
		t.Errorf("db prune without --yes: exit %d\n%s%s", code, out, errOut)
	}
	if got := backups(); len(got) != 3 {
		t.Fatalf("prune without --yes deleted: %v", got)
	}
	out = p.tend("db", "prune", "production", "--yes")
	after := backups()
	if len(after) != 1 || after[0] != before[2] {
		t.Errorf("after prune --yes: backups %v, want only the newest of %v\n%s", after, before, out)
	}
	if n := walCount(); n >= walBefore {
		t.Errorf("prune deleted no WAL: %d files before, %d after\n%s", walBefore, n, out)
	}
	mu.Lock()
	if len(sent) != 0 {
		t.Errorf("prune sent %d request(s) to a host:\n%s", len(sent), strings.Join(sent, "\n"))
	}
	mu.Unlock()

	// A drill still works on what prune kept; it sends the host no
	// credentials.
	delete(p.env, "AWS_ACCESS_KEY_ID")
	delete(p.env, "AWS_SECRET_ACCESS_KEY")
	out = p.tend("db", "drill", "production", "--query", "SELECT string_agg(v, ',' ORDER BY v) FROM t")
	if !strings.Contains(out, "0,1,2") {
		t.Errorf("drill after prune:\n%s", out)
	}
	p.env["AWS_ACCESS_KEY_ID"] = p.srv.AccessKey
	p.env["AWS_SECRET_ACCESS_KEY"] = p.srv.SecretKey
	p.tend("db", "prune", "production", "--yes")

	mu.Lock()
	defer mu.Unlock()
	if len(sent) == 0 {
		t.Fatal("no request to a host captured: the capture does not work")
	}
	hits := 0
	for _, r := range sent {
		if strings.Contains(r, p.srv.SecretKey) || strings.Contains(r, p.srv.AccessKey) || strings.Contains(r, `"op":"prune"`) {
			hits++
			t.Errorf("sent to a host: %s", r)
		}
	}
	if hits != 0 {
		t.Errorf("%d request(s) of %d carried the delete credentials or a prune", hits, len(sent))
	}
}
