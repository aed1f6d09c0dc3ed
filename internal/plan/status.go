package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"tend/internal/inventory"
	"tend/internal/wire"
)

// HostStatus is one host's answer to tend status, or why there is none.
type HostStatus struct {
	Host   string
	Status *wire.HostStatus
	Err    error
}

// Status asks every host for the record of its scheduled jobs and the
// health of its backups (tend agent status), at most parallel hosts at
// once (10 when parallel is not positive). It returns one answer per host,
// in the hosts' order; a host that cannot be asked has Err set, and does
// not stop the others.
func Status(ctx context.Context, hosts []inventory.Host, b *Binary, parallel int) []HostStatus {
	if parallel <= 0 {
		parallel = 10
	}
	out := make([]HostStatus, len(hosts))
	eachHost(len(hosts), parallel, func(i int) {
		h := hosts[i]
		out[i] = HostStatus{Host: h.Name}
		var stdout, stderr bytes.Buffer
		if err := Exec(ctx, h.SSH, b, "status", nil, &stdout, &stderr); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			out[i].Err = err
			return
		}
		var hs wire.HostStatus
		if err := json.Unmarshal(stdout.Bytes(), &hs); err != nil {
			out[i].Err = fmt.Errorf("unreadable answer from the agent: %w", err)
			return
		}
		out[i].Status = &hs
	})
	return out
}
