package lab

import (
	"context"
	"sync"
)

// HostStatus is what Status found out about one host.
type HostStatus struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Running bool   `json:"running"` // its systemd-nspawn process runs
	SSH     bool   `json:"ssh"`     // it ran a command over SSH
	Error   string `json:"error,omitempty"`
}

// Status checks every host of the lab: is it running, does it answer SSH.
func Status(ctx context.Context, c Config, s *State) []HostStatus {
	out := make([]HostStatus, len(s.Hosts))
	var wg sync.WaitGroup
	for i, h := range s.Hosts {
		out[i] = HostStatus{Name: h.Name, Addr: h.Addr, Running: h.alive()}
		if !out[i].Running {
			out[i].Error = "not running"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := Dial(ctx, c, s, h)
			if err == nil {
				_, err = cl.Output(ctx, "true")
				cl.Close()
			}
			out[i].SSH = err == nil
			if err != nil {
				out[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}
