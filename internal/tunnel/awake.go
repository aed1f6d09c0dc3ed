package tunnel

import (
	"os"
	"runtime"
	"sync"
	"syscall"
)

// A tunnel's latency is the latency of its wake-ups: a request crosses
// the client daemon and the server daemon, each of which sleeps until the
// bytes arrive, and the same again for the answer. Go's scheduler adds
// wake-ups of its own there. When every P is idle (all goroutines wait for
// the network, as a tunnel's do between two small messages) its monitor
// thread, sysmon, goes into a deep sleep; the next system call wakes it,
// and it then ticks every 20 µs for a while before it sleeps again. On a
// request/response protocol that is two or three extra context switches
// per message per daemon, on the critical path (measured with perf on
// bench/tunnel's echo: 12 switches per round trip instead of stunnel's 4,
// and 1.8 times its added latency).
//
// awake keeps one P busy while connections are open, so that sysmon never
// goes into its deep sleep: a goroutine blocked in nanosleep(2) holds its
// P, and it yields after each sleep so that sysmon does not take it for a
// goroutine that runs too long (which would wake the monitor again). It
// costs 200 wake-ups a second while a connection is open, and nothing
// when none is.
var awakeState struct {
	sync.Mutex
	n    int
	stop chan struct{}
}

// awake marks one connection open; the function it returns marks it
// closed.
func awake() (done func()) {
	a := &awakeState
	a.Lock()
	defer a.Unlock()
	if a.n++; a.n == 1 {
		stop := make(chan struct{})
		a.stop = stop
		go func() {
			ts := syscall.Timespec{Nsec: 5e6} // 5 ms: below sysmon's 10 ms limits
			for {
				select {
				case <-stop:
					return
				default:
				}
				syscall.Nanosleep(&ts, nil)
				runtime.Gosched()
			}
		}()
	}
	return func() {
		a.Lock()
		defer a.Unlock()
		if a.n--; a.n == 0 {
			close(a.stop)
		}
	}
}

// spareProc gives the daemon one P more than it has CPUs, for the one that
// awake holds in its sleep: without it, on a small host, sysmon takes that
// P back after 20 µs whenever the others are busy, and that is a wake-up
// again. A GOMAXPROCS set in the environment is left alone.
func spareProc() {
	spare.Do(func() {
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
		}
	})
}

var spare sync.Once
