package snapshot

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tend/internal/retention"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestForgetPolicy runs 48 hourly snapshots through a policy and compares
// the decisions and the survivors with testdata/forget_policy.golden.
func TestForgetPolicy(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	src := t.TempDir()
	write(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	base := time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC) // spans a month end
	names := map[ID]string{}
	for i := range 48 {
		sn, err := e.host.Create(ctx, CreateOptions{Paths: []string{src}, Host: "mx", Time: base.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		names[sn.ID] = fmt.Sprintf("hour%02d %s", i, sn.Time.Format("2006-01-02T15:04"))
	}
	p := retention.Policy{Last: 3, Hourly: 6, Daily: 2, Monthly: 2}
	groups, err := e.admin.ForgetPolicy(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "policy: %s\n", p)
	for _, g := range groups {
		for _, d := range g.Decisions {
			verdict := "forget"
			if d.Keep {
				verdict = "keep   " + strings.Join(d.Reasons, ", ")
			}
			fmt.Fprintf(&b, "%s  %s\n", names[d.Snapshot.ID], verdict)
		}
	}
	if _, err := e.admin.ForgetPolicy(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	left, err := e.admin.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "survivors:\n")
	for _, sn := range left {
		fmt.Fprintf(&b, "%s\n", names[sn.ID])
	}
	golden := filepath.Join("testdata", "forget_policy.golden")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("decisions (-golden +got):\n%s", diff)
	}
}

// TestIndexMemory: the in-memory index costs at most 100 bytes per chunk.
func TestIndexMemory(t *testing.T) {
	e := newEnv(t, newStore(t, "dir"))
	ctx := context.Background()
	const n = 200000
	var packs []indexPack
	for p := range n / 1000 {
		ip := indexPack{info: packInfo{size: 16 << 20, hdrLen: 200}}
		rand.Read(ip.info.id[:])
		for i := range 1000 {
			var id ID
			rand.Read(id[:])
			ip.blobs = append(ip.blobs, entry{id: id, typ: DataBlob, off: uint32(i * 1000), length: 1000, raw: 900})
		}
		packs = append(packs, ip)
		_ = p
	}
	if _, err := e.admin.writeIndex(ctx, packs); err != nil {
		t.Fatal(err)
	}
	packs = nil
	// Warm up: the decompressor keeps its buffers (a fixed cost, not per chunk).
	if _, err := e.admin.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := e.admin.LoadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("index: %.1f bytes per chunk", per)
	if x.Len() != n {
		t.Fatalf("loaded %d entries", x.Len())
	}
	if per > 100 {
		t.Errorf("index costs %.1f bytes per chunk, want <= 100", per)
	}
}
