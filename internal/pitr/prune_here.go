package pitr

import (
	"context"
	"time"

	"tend/internal/store/storeurl"
)

// PruneHere plans the retention of the archive c names, and with apply
// carries it out, from the machine it runs on (CI, the controller, the
// storage host), talking to the store directly with getenv's credentials.
// It is never asked of a database host's agent: the credentials that may
// delete backups must not reach the hosts that write them. Pruning reads
// only names and manifests, so it needs no identity.
func PruneHere(ctx context.Context, c Config, getenv func(string) string, k Keep, apply bool, now time.Time) (*PruneResult, error) {
	st, err := storeurl.Open(ctx, c.Store, getenv)
	if err != nil {
		return nil, err
	}
	a := &Archive{Store: st}
	ws, inc, wal, err := a.Load(ctx)
	if err != nil {
		return nil, err
	}
	p, err := PlanPrune(ws, wal, inc, k, now)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{Plan: p, Applied: apply}
	if apply {
		if res.KeptByLock, err = a.Prune(ctx, p); err != nil {
			return nil, err
		}
	}
	return res, nil
}
