package command

import (
	"context"

	"tend/internal/resource"
)

// Removal is the removal of a command: a command that ran has nothing tend
// could undo, so a command that leaves the spec (or says state: absent) is
// only forgotten. What it made stays: the path its creates names, and, for
// a command without a guard, the record of its run in
// /var/lib/tend/commands/NAME, so that declaring the same command again
// does not run it again (its effects are still on the host). Delete that
// file, or the creates path, to have it run again.
type Removal struct{}

// CheckRemove implements resource.Remover: there is never anything to
// remove.
func (Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	return nil, nil
}

// Remove implements resource.Remover; it is never called, as CheckRemove
// never returns a change.
func (Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	return nil
}
