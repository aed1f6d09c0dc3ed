package snapshot

import (
	"context"
	"fmt"
	"slices"

	"tend/internal/retention"
)

// PolicyDecision is the verdict on one snapshot under a keep policy.
type PolicyDecision struct {
	Snapshot *Snapshot
	Keep     bool
	Reasons  []string
	// Locked: forgotten by the policy, but the store's object lock kept
	// the snapshot object; it stays listed until a later forget deletes it.
	Locked bool
}

// PolicyGroup is the decisions for one host and set of paths, newest first.
type PolicyGroup struct {
	Host      string
	Paths     []string
	Decisions []PolicyDecision
}

// ApplyPolicy groups snapshots by host and paths and applies the policy
// to each group; it changes nothing.
func ApplyPolicy(sns []*Snapshot, p retention.Policy) []PolicyGroup {
	byKey := map[string]*PolicyGroup{}
	var keys []string
	for _, sn := range sns {
		k := groupKey(sn.Host, sn.Paths)
		g, ok := byKey[k]
		if !ok {
			g = &PolicyGroup{Host: sn.Host, Paths: sn.Paths}
			byKey[k] = g
			keys = append(keys, k)
		}
		g.Decisions = append(g.Decisions, PolicyDecision{Snapshot: sn})
	}
	slices.Sort(keys)
	var out []PolicyGroup
	for _, k := range keys {
		g := byKey[k]
		items := make([]retention.Item, len(g.Decisions))
		ix := map[string]*Snapshot{}
		for i, d := range g.Decisions {
			items[i] = retention.Item{ID: d.Snapshot.ID.String(), Time: d.Snapshot.Time}
			ix[items[i].ID] = d.Snapshot
		}
		ds := p.Apply(items)
		g.Decisions = g.Decisions[:0]
		for _, d := range ds {
			g.Decisions = append(g.Decisions, PolicyDecision{Snapshot: ix[d.Item.ID], Keep: d.Keep, Reasons: d.Reasons})
		}
		out = append(out, *g)
	}
	return out
}

// ForgetPolicy applies the policy and, unless dryRun, forgets what it
// does not keep.
func (r *Repo) ForgetPolicy(ctx context.Context, p retention.Policy, dryRun bool) ([]PolicyGroup, error) {
	sns, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	groups := ApplyPolicy(sns, p)
	if dryRun {
		return groups, nil
	}
	var drop []ID
	for _, g := range groups {
		for _, d := range g.Decisions {
			if !d.Keep {
				drop = append(drop, d.Snapshot.ID)
			}
		}
	}
	locked, err := r.ForgetSnapshots(ctx, drop)
	for _, g := range groups {
		for i := range g.Decisions {
			g.Decisions[i].Locked = slices.Contains(locked, g.Decisions[i].Snapshot.ID)
		}
	}
	return groups, err
}

// ForgetSnapshots deletes the snapshot objects (their data stays until
// prune). The objects the store's object lock retains are not an error:
// they stay, whole and restorable, and are returned; a later forget
// deletes them once the lock's retention has passed.
func (r *Repo) ForgetSnapshots(ctx context.Context, ids []ID) (locked []ID, err error) {
	kept := lockKept{}
	for _, id := range ids {
		deleted, err := kept.del(ctx, r.st, prefixSnap+id.String(), "snapshot objects")
		if err != nil {
			return locked, fmt.Errorf("forget %s: %w", id.Short(), err)
		}
		if !deleted {
			locked = append(locked, id)
		}
	}
	for _, l := range kept.lines("a later forget") {
		r.logf("%s", l)
	}
	return locked, nil
}
