package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecordJournal: the journal replays over the record file, a last line
// cut short by a kill is ignored, and compaction folds the journal into
// the file in the desired order.
func TestRecordJournal(t *testing.T) {
	dir := t.TempDir()
	r, err := loadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"file:/a", "file:/b", "file:/c"} {
		if err := r.log(journalOp{Set: &Entry{ID: id, Kind: "file", Name: id[5:], Created: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.log(journalOp{Delete: "file:/b"}); err != nil {
		t.Fatal(err)
	}
	r.close()
	// A kill in the middle of writing the next line.
	f, err := os.OpenFile(filepath.Join(dir, "managed.journal"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"set":{"id":"file:/d","ki`)
	f.Close()

	r, err = loadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.order; len(got) != 2 || got[0] != "file:/a" || got[1] != "file:/c" || !r.entries["file:/a"].Created {
		t.Fatalf("replayed record: %v", got)
	}
	// The next op after a cut line still reads back.
	if err := r.log(journalOp{Set: &Entry{ID: "file:/e", Kind: "file", Name: "/e"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.compact([]string{"file:/e", "file:/c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "managed.journal")); !os.IsNotExist(err) {
		t.Fatalf("journal left after compaction: %v", err)
	}
	r, err = loadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.order; len(got) != 3 || got[0] != "file:/e" || got[1] != "file:/c" || got[2] != "file:/a" {
		t.Fatalf("compacted record order: %v", got)
	}
	// A damaged record is an error that says what to do, not an empty record
	// (which would make tend forget, and never remove, what it manages).
	os.WriteFile(filepath.Join(dir, "managed.json"), []byte("{"), 0o600)
	if _, err := loadRecord(dir); err == nil {
		t.Fatal("a damaged record was read as empty")
	}
}
