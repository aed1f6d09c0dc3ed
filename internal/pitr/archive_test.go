package pitr

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"tend/internal/hint"
	"tend/internal/seal"
	"tend/internal/store"
)

func hashOf(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestPushFetch(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(t *testing.T) store.Store) {
		t.Run("round trip", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			ctx := testCtx(t)
			files := map[string][]byte{
				segName(3):                      randomBytes(t, 100_000),
				segName(4) + ".partial":         randomBytes(t, 1000),
				"00000002.history":              []byte("1\t0/4000000\tno recovery target specified\n"),
				segName(3) + ".00000028.backup": []byte("START WAL LOCATION: 0/3000028\n"),
				segName(5):                      {}, // empty content is still content
			}
			for name, data := range files {
				mustPush(t, a, name, data)
			}
			for name, data := range files {
				got, err := a.Fetch(ctx, name)
				if err != nil {
					t.Fatalf("fetch %s: %v", name, err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("fetch %s: %d bytes differ from the %d pushed", name, len(got), len(data))
				}
			}
			// The stored object is sealed: the plain bytes are not in it.
			sealed := getObject(t, a.Store, walPrefix+segName(3)+"/"+hashOf(files[segName(3)]))
			if bytes.Contains(sealed, files[segName(3)][:64]) {
				t.Error("the stored segment contains its plain content")
			}
			wal, err := a.WAL(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range wal {
				names = append(names, o.Name)
				if o.Hash != hashOf(files[o.Name]) {
					t.Errorf("WAL() lists %s with hash %s, want the content's", o.Name, o.Hash)
				}
			}
			want := []string{segName(3), segName(3) + ".00000028.backup", segName(4) + ".partial", segName(5), "00000002.history"}
			if !slices.Equal(names, want) {
				t.Errorf("WAL() names = %q, want %q", names, want)
			}
		})

		t.Run("identical re-push writes nothing", func(t *testing.T) {
			cs := &countingStore{Store: newStore(t)}
			a := newArchive(t, cs)
			data := randomBytes(t, 5000)
			mustPush(t, a, segName(7), data)
			before := keysUnder(t, cs, "")
			cs.reset()
			mustPush(t, a, segName(7), data)
			if puts, _ := cs.reset(); len(puts) != 0 {
				t.Errorf("identical re-push wrote %q", puts)
			}
			if after := keysUnder(t, cs, ""); !slices.Equal(after, before) {
				t.Errorf("keys after re-push = %q, want %q", after, before)
			}
		})

		t.Run("different bytes refused", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			ctx := testCtx(t)
			first, second := randomBytes(t, 5000), randomBytes(t, 5000)
			mustPush(t, a, segName(8), first)
			key := walPrefix + segName(8) + "/" + hashOf(first)
			stored := getObject(t, a.Store, key)
			err := a.Push(ctx, segName(8), second)
			if err == nil {
				t.Fatal("pushing different bytes under an archived name succeeded")
			}
			for _, want := range []string{segName(8), "already archived", "different content", hashOf(first)[:12], hashOf(second)[:12], a.Store.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if hint.Of(err) == "" {
				t.Error("the refusal has no hint")
			}
			if keys := keysUnder(t, a.Store, walPrefix+segName(8)+"/"); !slices.Equal(keys, []string{key}) {
				t.Errorf("keys after refused push = %q, want only %q", keys, key)
			}
			if !bytes.Equal(getObject(t, a.Store, key), stored) {
				t.Error("the stored object changed")
			}
			got, err := a.Fetch(ctx, segName(8))
			if err != nil || !bytes.Equal(got, first) {
				t.Errorf("fetch after refused push: %v (same bytes as the first push: %v)", err, bytes.Equal(got, first))
			}
		})

		t.Run("absent and gap", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			ctx := testCtx(t)
			mustPush(t, a, segName(10), []byte("ten"))
			mustPush(t, a, segName(12), []byte("twelve"))
			mustPush(t, a, Segment{TLI: 2, No: 20}.Name(segSize), []byte("tli 2"))
			tests := []struct {
				name       string
				absent     bool
				gap        bool
				wantInText string
			}{
				{segName(9), false, true, segName(10)},  // before the first archived one: later ones exist
				{segName(11), false, true, segName(12)}, // a hole
				{segName(13), true, false, segName(13)}, // the end of timeline 1: later segments only on timeline 2
				{Segment{TLI: 2, No: 21}.Name(segSize), true, false, ""},
				{Segment{TLI: 3, No: 1}.Name(segSize), true, false, ""},
				{"00000003.history", true, false, "00000003.history"},
				{segName(11) + ".partial", true, false, ""}, // not a segment: never a gap
			}
			for _, tt := range tests {
				_, err := a.Fetch(ctx, tt.name)
				if err == nil {
					t.Errorf("fetch %s succeeded", tt.name)
					continue
				}
				if errors.Is(err, ErrAbsent) != tt.absent || errors.Is(err, ErrGap) != tt.gap {
					t.Errorf("fetch %s: %v: absent %v gap %v, want absent %v gap %v", tt.name, err,
						errors.Is(err, ErrAbsent), errors.Is(err, ErrGap), tt.absent, tt.gap)
				}
				if !strings.Contains(err.Error(), tt.wantInText) {
					t.Errorf("fetch %s: error %q does not name %s", tt.name, err, tt.wantInText)
				}
			}
		})

		t.Run("invalid names", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			ctx := testCtx(t)
			for _, name := range []string{"../x", "basebackups/x", segName(1) + "/x", ""} {
				if err := a.Push(ctx, name, []byte("x")); err == nil {
					t.Errorf("push %q succeeded", name)
				}
				if _, err := a.Fetch(ctx, name); err == nil || errors.Is(err, ErrAbsent) {
					t.Errorf("fetch %q: %v, want an invalid-name error (not absence)", name, err)
				}
			}
			if keys := keysUnder(t, a.Store, ""); len(keys) != 0 {
				t.Errorf("invalid pushes wrote %q", keys)
			}
		})

		t.Run("no identity", func(t *testing.T) {
			a := newArchive(t, newStore(t))
			mustPush(t, a, segName(1), []byte("one"))
			host := &Archive{Store: a.Store, Recipients: a.Recipients, SegSize: segSize}
			_, err := host.Fetch(testCtx(t), segName(1))
			if err == nil || !strings.Contains(err.Error(), "identity") || hint.Of(err) == "" {
				t.Errorf("fetch without identity: %v (hint %q)", err, hint.Of(err))
			}
			other, _ := age.GenerateX25519Identity()
			wrong := &Archive{Store: a.Store, Identities: []age.Identity{other}, SegSize: segSize}
			if _, err := wrong.Fetch(testCtx(t), segName(1)); err == nil || errors.Is(err, ErrAbsent) {
				t.Errorf("fetch with the wrong identity: %v, want a failure", err)
			}
		})
	})
}

// TestDamage corrupts, replaces and duplicates archived objects: Fetch must
// refuse each, and Check must report them (the corruption only when it
// reads the data).
func TestDamage(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(t *testing.T) store.Store) {
		tests := []struct {
			name   string
			damage func(t *testing.T, a *Archive, name, key string, data []byte)
			// fetchErr and checkErr are in the errors of Fetch and of
			// Check(readData=true); cheap is what Check(false) reports.
			fetchErr, checkErr, cheap string
		}{
			{
				name: "flipped byte at the end",
				damage: func(t *testing.T, a *Archive, name, key string, data []byte) {
					b := getObject(t, a.Store, key)
					b[len(b)-1] ^= 0x01
					putObject(t, a.Store, key, b)
				},
			},
			{
				name: "flipped byte in the header",
				damage: func(t *testing.T, a *Archive, name, key string, data []byte) {
					b := getObject(t, a.Store, key)
					b[40] ^= 0x01
					putObject(t, a.Store, key, b)
				},
			},
			{
				name: "truncated",
				damage: func(t *testing.T, a *Archive, name, key string, data []byte) {
					b := getObject(t, a.Store, key)
					putObject(t, a.Store, key, b[:len(b)/2])
				},
			},
			{
				name: "other content sealed under the same hash",
				damage: func(t *testing.T, a *Archive, name, key string, data []byte) {
					other := bytes.Clone(data)
					other[0] ^= 0x01
					var buf bytes.Buffer
					w, err := seal.NewWriter(&buf, a.Recipients...)
					if err != nil {
						t.Fatal(err)
					}
					w.Write(other)
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					putObject(t, a.Store, key, buf.Bytes())
				},
				fetchErr: "does not match its archived hash", checkErr: "does not match its archived hash",
			},
			{
				name: "archived twice",
				damage: func(t *testing.T, a *Archive, name, key string, data []byte) {
					// A second version, as two clusters racing on one store
					// or a hand-made copy could leave.
					putObject(t, a.Store, walPrefix+name+"/"+strings.Repeat("0", 64), getObject(t, a.Store, key))
				},
				fetchErr: "archived 2 times", checkErr: "archived more than once", cheap: "archived more than once",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := newArchive(t, newStore(t))
				ctx := testCtx(t)
				good := randomBytes(t, 20_000)
				data := randomBytes(t, 20_000)
				mustPush(t, a, segName(1), good)
				mustPush(t, a, segName(2), data)
				if p, err := a.Check(ctx, true); err != nil || len(p) != 0 {
					t.Fatalf("check before the damage: %q, %v", p, err)
				}
				key := walPrefix + segName(2) + "/" + hashOf(data)
				tt.damage(t, a, segName(2), key, data)

				_, err := a.Fetch(ctx, segName(2))
				if err == nil {
					t.Fatal("fetch of the damaged segment succeeded")
				}
				if errors.Is(err, ErrAbsent) || errors.Is(err, ErrGap) {
					t.Errorf("fetch of the damaged segment says it is absent: %v", err)
				}
				if !strings.Contains(err.Error(), segName(2)) || !strings.Contains(err.Error(), tt.fetchErr) {
					t.Errorf("fetch error %q does not name %s and %q", err, segName(2), tt.fetchErr)
				}
				if got, err := a.Fetch(ctx, segName(1)); err != nil || !bytes.Equal(got, good) {
					t.Errorf("the undamaged segment: %v", err)
				}

				cheap, err := a.Check(ctx, false)
				if err != nil {
					t.Fatal(err)
				}
				if tt.cheap == "" && len(cheap) != 0 {
					t.Errorf("check without reading data: %q, want nothing (it does not read objects)", cheap)
				}
				if tt.cheap != "" && !containsAll(cheap, segName(2), tt.cheap) {
					t.Errorf("check without reading data: %q, want a problem naming %s: %q", cheap, segName(2), tt.cheap)
				}
				full, err := a.Check(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				if !containsAll(full, segName(2), tt.checkErr) {
					t.Errorf("check reading data: %q, want a problem naming %s: %q", full, segName(2), tt.checkErr)
				}
				for _, p := range full {
					if strings.Contains(p, segName(1)) {
						t.Errorf("check reports the undamaged segment: %q", p)
					}
				}
			})
		}
	})
}

// containsAll reports whether one of problems contains every one of subs.
func containsAll(problems []string, subs ...string) bool {
	for _, p := range problems {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(p, s)
		}
		if ok {
			return true
		}
	}
	return false
}
