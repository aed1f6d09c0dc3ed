package apt

import (
	"context"
	"fmt"

	"tend/internal/resource"
	"tend/internal/spec"
)

// Removal removes a package that left the spec. By default it stays
// installed: a package is removed only when tend installed it and its spec
// said purge_on_removal (apt-get purge: its configuration files go too)
// or tend.yaml says remove_unmanaged_packages (apt-get remove: they
// stay). A package installed before tend stays. Either way a removal
// that would take other packages with it is refused, naming them.
type Removal struct {
	Name  string
	State string // the spec's; a package that was absent has nothing to undo
	Purge bool   // the spec's purge_on_removal
}

// NewRemoval makes the removal of package name from its spec.
func NewRemoval(name string, s *spec.Package) *Removal {
	return &Removal{Name: name, State: s.State, Purge: s.PurgeOnRemoval}
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, how resource.Removal) (*resource.Change, error) {
	if r.State == Absent && !how.Explicit {
		return nil, nil
	}
	have, err := (&Package{Name: r.Name}).installed(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !have.Has():
		return nil, nil
	case !how.Created && !how.Explicit:
		return resource.Kept(fmt.Sprintf("package %s was installed before tend managed it: it stays installed; declare it with state: absent to remove it", r.Name)), nil
	case !r.Purge && !how.RemovePackages && !how.Explicit:
		return resource.Kept(fmt.Sprintf("package %s stays installed; say purge_on_removal: true on it to purge it when it leaves the spec, or remove_unmanaged_packages: true in tend.yaml to remove every package that leaves it", r.Name)), nil
	}
	c := &resource.Change{Action: resource.Delete, Reason: "removed: its configuration files stay"}
	if r.Purge {
		c.Reason = "purged: its configuration files go too"
	}
	c.Add("version", have.Version, "")
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, c *resource.Change, how resource.Removal) error {
	verb := "remove"
	if r.Purge {
		verb = "purge"
	}
	return remove(ctx, r.Name, verb, "let them leave the spec too (or declare them absent), or keep it in the spec")
}
