package plan

import (
	"sync"
	"testing"
	"time"
)

// TestEachHostBound: hosts are gone through at most parallel at once (as
// tend status and apply promise with --parallel), and every one is.
func TestEachHostBound(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	done := make([]bool, 12)
	eachHost(len(done), 3, func(i int) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		done[i] = true
		mu.Unlock()
	})
	if most != 3 {
		t.Errorf("at most %d at once; want 3", most)
	}
	for i, d := range done {
		if !d {
			t.Errorf("host %d not gone through", i)
		}
	}
}
