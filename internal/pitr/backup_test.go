package pitr

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"tend/internal/store"
)

// storeBackup uploads data as backup id in parts of partSize and, with
// commit, writes its manifest.
func storeBackup(t *testing.T, a *Archive, id string, data []byte, partSize int64, commit bool, b Backup) Backup {
	t.Helper()
	parts, size, err := a.Upload(testCtx(t), id, bytes.NewReader(data), partSize)
	if err != nil {
		t.Fatalf("upload %s: %v", id, err)
	}
	b.ID, b.Parts, b.Size = id, parts, size
	if b.SegSize == 0 {
		b.SegSize = segSize
	}
	if commit {
		if err := a.Commit(testCtx(t), &b); err != nil {
			t.Fatalf("commit %s: %v", id, err)
		}
	}
	return b
}

func TestBackupRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(t *testing.T) store.Store) {
		tests := []struct {
			size, partSize int
			parts          int
		}{
			{5500, 1000, 6},
			{5000, 1000, 5}, // an exact multiple: no empty last part
			{999, 1000, 1},
			{1, 1000, 1},
			{300_000, 64 << 10, 5},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d in %d", tt.size, tt.partSize), func(t *testing.T) {
				a := newArchive(t, newStore(t))
				ctx := testCtx(t)
				data := randomBytes(t, tt.size)
				start := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
				want := storeBackup(t, a, "b1", data, int64(tt.partSize), true, Backup{
					Host: "db1", Cluster: "15/main", Timeline: 1,
					StartLSN: lsnIn(3, 40), StopLSN: lsnIn(3, 400), StartTime: start, StopTime: start.Add(time.Minute),
				})
				if len(want.Parts) != tt.parts || want.Size != int64(tt.size) {
					t.Fatalf("upload made %d parts of %d bytes in all, want %d parts of %d", len(want.Parts), want.Size, tt.parts, tt.size)
				}
				var sum int64
				for i, p := range want.Parts {
					sum += p.Size
					if wantKey := fmt.Sprintf("basebackups/b1/part-%05d", i); p.Key != wantKey {
						t.Errorf("part %d key %q, want %q", i, p.Key, wantKey)
					}
				}
				if sum != int64(tt.size) {
					t.Errorf("parts hold %d bytes, want %d", sum, tt.size)
				}
				backups, inc, err := a.Backups(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(backups) != 1 || len(inc) != 0 {
					t.Fatalf("Backups() = %d complete, %d incomplete; want 1, 0", len(backups), len(inc))
				}
				got := backups[0]
				if got.ID != "b1" || got.StopLSN != want.StopLSN || !got.StopTime.Equal(want.StopTime) || len(got.Parts) != len(want.Parts) {
					t.Errorf("manifest read back = %+v, want %+v", got, want)
				}
				var out bytes.Buffer
				if err := a.Read(ctx, &got, &out); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), data) {
					t.Errorf("read back %d bytes, not the %d uploaded", out.Len(), len(data))
				}
				// A sealed part does not hold its plain bytes.
				if raw := getObject(t, a.Store, got.Parts[0].Key); bytes.Contains(raw, data[:min(len(data), 64)]) && len(data) >= 16 {
					t.Error("a stored part contains its plain content")
				}
			})
		}

		t.Run("committed twice refused", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			b := storeBackup(t, a, "b1", []byte("data"), 10, true, Backup{Timeline: 1, StopTime: time.Now()})
			if err := a.Commit(testCtx(t), &b); !store.IsExists(err) {
				t.Errorf("second commit: %v, want an already-exists error", err)
			}
		})
	})
}

func TestBackupDamage(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(t *testing.T) store.Store) {
		tests := []struct {
			name   string
			damage func(t *testing.T, a *Archive, b Backup)
			want   []string
		}{
			{"deleted part", func(t *testing.T, a *Archive, b Backup) {
				if err := a.Store.Delete(testCtx(t), b.Parts[2].Key); err != nil {
					t.Fatal(err)
				}
			}, []string{"backup b1 is damaged", "part basebackups/b1/part-00002 is missing"}},
			{"last part deleted", func(t *testing.T, a *Archive, b Backup) {
				if err := a.Store.Delete(testCtx(t), b.Parts[len(b.Parts)-1].Key); err != nil {
					t.Fatal(err)
				}
			}, []string{"backup b1 is damaged", "part basebackups/b1/part-00005 is missing"}},
			{"flipped byte", func(t *testing.T, a *Archive, b Backup) {
				raw := getObject(t, a.Store, b.Parts[1].Key)
				raw[len(raw)-2] ^= 0x80
				putObject(t, a.Store, b.Parts[1].Key, raw)
			}, []string{"basebackups/b1/part-00001"}},
			{"parts swapped", func(t *testing.T, a *Archive, b Backup) {
				p0, p1 := getObject(t, a.Store, b.Parts[0].Key), getObject(t, a.Store, b.Parts[1].Key)
				putObject(t, a.Store, b.Parts[0].Key, p1)
				putObject(t, a.Store, b.Parts[1].Key, p0)
			}, []string{"basebackups/b1/part-00000", "does not match the manifest"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := newArchive(t, newStore(t))
				ctx := testCtx(t)
				b := storeBackup(t, a, "b1", randomBytes(t, 5500), 1000, true, Backup{Timeline: 1, StopTime: time.Now()})
				tt.damage(t, a, b)
				var out bytes.Buffer
				err := a.Read(ctx, &b, &out)
				if err == nil {
					t.Fatal("reading the damaged backup succeeded")
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("read error %q does not contain %q", err, w)
					}
				}
				problems, err := a.Check(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				if !containsAll(problems, append([]string{"backup b1"}, tt.want...)...) {
					t.Errorf("check: %q, want a problem with %q", problems, tt.want)
				}
			})
		}
	})
}

// TestIncompleteBackup: a backup whose manifest was never written is
// listed as incomplete and never restored from.
func TestIncompleteBackup(t *testing.T) {
	a := newArchive(t, newDirStore(t))
	ctx := testCtx(t)
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	done := storeBackup(t, a, "b-done", []byte("complete backup"), 4, true, Backup{
		Timeline: 1, StartLSN: lsnIn(3, 40), StopLSN: lsnIn(3, 400), StartTime: t0, StopTime: t0.Add(time.Minute),
	})
	storeBackup(t, a, "b-failed", []byte("newer, but killed before its manifest"), 4, false, Backup{})
	for no := uint64(3); no <= 6; no++ {
		mustPush(t, a, segName(no), []byte{byte(no)})
	}
	ws, inc, _, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Backup.ID != "b-done" {
		t.Fatalf("windows %+v, want only b-done's", ws)
	}
	if len(inc) != 1 || inc[0].ID != "b-failed" || len(inc[0].Keys) != 10 {
		t.Fatalf("incomplete = %+v, want b-failed with its 10 parts", inc)
	}
	for _, k := range inc[0].Keys {
		if !strings.HasPrefix(k, "basebackups/b-failed/part-") {
			t.Errorf("incomplete key %q", k)
		}
	}
	w, err := Choose(ws, Target{Latest: true})
	if err != nil || w.Backup.ID != done.ID {
		t.Errorf("Choose(latest) = %v, %v; want b-done", w, err)
	}
	// Incomplete only: nothing restorable.
	b := newArchive(t, newDirStore(t))
	storeBackup(t, b, "b-failed", []byte("killed"), 4, false, Backup{})
	ws, inc, _, err = b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 0 || len(inc) != 1 {
		t.Fatalf("%d windows, %d incomplete; want 0, 1", len(ws), len(inc))
	}
	if _, err := Choose(ws, Target{Latest: true}); err == nil || !strings.Contains(err.Error(), "no complete base backup") {
		t.Errorf("Choose with only an incomplete backup: %v", err)
	}
}

// TestUploadFailure: a failed part upload fails the upload and leaves no
// manifest.
func TestUploadFailure(t *testing.T) {
	a := newArchive(t, newDirStore(t))
	ctx := testCtx(t)
	// Taking a part's key first makes its create-only PUT fail.
	if err := a.Store.Put(ctx, "basebackups/b1/part-00003", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := a.Upload(ctx, "b1", bytes.NewReader(randomBytes(t, 10_000)), 1000)
	if err == nil || !strings.Contains(err.Error(), "part-00003") {
		t.Fatalf("upload over a taken part key: %v, want an error naming part-00003", err)
	}
	_, _, err = a.Upload(ctx, "b2", io.MultiReader(bytes.NewReader(randomBytes(t, 2500)), errReader{}), 1000)
	if err == nil || !strings.Contains(err.Error(), "reading the backup stream") {
		t.Fatalf("upload of a failing stream: %v", err)
	}
	backups, _, err := a.Backups(ctx)
	if err != nil || len(backups) != 0 {
		t.Errorf("Backups() = %v, %v; want none complete", backups, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk read error") }
