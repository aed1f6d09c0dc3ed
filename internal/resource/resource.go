// Package resource defines what every kind of resource implements: compare
// the host with the desired state (Check, which changes nothing) and make
// them match (Apply), and how a resource is removed when it leaves the spec
// (Remover). Implementations live in one package per kind under
// internal/resource/ and run on the host, inside tend's agent, as root.
// This package also holds what they share: atomic file writes, owners,
// commands, and unified diffs.
package resource

import (
	"context"

	"tend/internal/wire"
)

// Resource is one desired thing on a host.
type Resource interface {
	// Check compares the host with the desired state and returns what must
	// change, or nil when they match. It changes nothing on the host, so it
	// is safe to call for a plan, and at any time.
	Check(ctx context.Context) (*Change, error)
	// Apply makes the host match the desired state. It is called with the
	// change Check just returned, and must leave no half-done state: files
	// are written to a temporary file, synced and renamed into place.
	Apply(ctx context.Context, c *Change) error
}

// Remover removes from the host what a resource made there: when the
// resource left the spec (removal by omission) or the spec says
// state: absent.
type Remover interface {
	// CheckRemove returns what removing would change, nil when nothing of
	// it is left on the host, or a change with Action Keep and a Reason
	// when it stays on the host (it holds data, tend did not create it...).
	// It changes nothing on the host.
	CheckRemove(ctx context.Context, how Removal) (*Change, error)
	// Remove makes the removal CheckRemove just returned (never called
	// for Keep). Like Apply it leaves no half-done state, and running it
	// again after it was interrupted finishes the work.
	Remove(ctx context.Context, c *Change, how Removal) error
}

// Removal says how a resource is removed.
type Removal struct {
	// Created: tend created the thing (it did not exist when tend first
	// managed it). What tend did not create is put back as it was (Prior)
	// or kept, never deleted, unless Explicit.
	Created bool
	// Explicit: the spec says state: absent; remove it whoever made it.
	Explicit bool
	// DeleteData: the spec says delete_data: true; a removal may destroy
	// data (drop a database, delete a directory that is not empty).
	DeleteData bool
	// Prior holds what the host had before tend first changed the
	// resource: the From of each field of that first change (a sysctl's
	// old value, whether a service was enabled...). Empty when unknown.
	Prior map[string]string
	// RemovePackages: packages that leave the spec are removed
	// (remove_unmanaged_packages in tend.yaml).
	RemovePackages bool
	// Going holds the names (paths...) of resources this run removes
	// before this one: in a plan they are still on the host, and the
	// removal must be judged as if they were gone (a directory emptied of
	// the files tend made in it).
	Going map[string]bool
}

// Change is what must change for one resource; see wire.Change.
type Change = wire.Change

// Field is one attribute that differs; see wire.Field.
type Field = wire.Field

// Action is what a change does to a resource; see wire.Action.
type Action = wire.Action

// The actions.
const (
	Create  = wire.Create
	Update  = wire.Update
	Delete  = wire.Delete
	Run     = wire.Run
	Keep    = wire.Keep
	Pending = wire.Pending
)

// Kept is the change of a resource that stays on the host when it leaves
// the spec, saying why.
func Kept(reason string) *Change { return &Change{Action: Keep, Reason: reason} }
