// Package agent is what tend runs on a host: it reads the host's whole
// desired state on standard input, checks every resource in order, converges
// them (apply) or only reports (plan), removes what left the spec, fires
// handlers once at the end, and writes a stream of JSON events (package
// wire) on standard output. It keeps a record of what it manages on the
// host, so that a resource dropped from the spec is removed; handlers
// notified by a run that failed are kept on the host and fired by the next
// run. One lock per host keeps two runs from interleaving.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tend/internal/hint"
	"tend/internal/resource"
	"tend/internal/spec"
	"tend/internal/wire"
)

// Options are where the agent keeps its own state on the host.
type Options struct {
	StateDir string // default /var/lib/tend
}

// run is one run of the agent.
type run struct {
	ctx      context.Context
	mode     wire.Mode
	d        *wire.Desired
	stateDir string
	rec      *record
	pending  []wire.Handler
	emit     func(wire.Event)
	changed  int
	removed  int
	going    map[string]bool // names of what this run removed so far
}

// Run reads a desired state from in and runs it in mode, writing events to
// out. It returns an error when the run failed; the events say where.
func Run(ctx context.Context, mode wire.Mode, in io.Reader, out io.Writer, opts Options) error {
	if opts.StateDir == "" {
		opts.StateDir = "/var/lib/tend"
	}
	enc := json.NewEncoder(out)
	emit := func(e wire.Event) { _ = enc.Encode(e) }
	fail := func(err error) error {
		emit(wire.Event{Type: wire.EventDone, Failed: true, Diag: wire.Diag("", err)})
		return err
	}
	var d wire.Desired
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fail(fmt.Errorf("agent: read desired state: %w", err))
	}
	if d.Protocol != wire.Protocol {
		return fail(fmt.Errorf("agent: desired state protocol %d, this agent speaks %d: run the same tend version on both ends", d.Protocol, wire.Protocol))
	}
	unlock, err := lock(opts.StateDir, mode)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	rec, err := loadRecord(opts.StateDir)
	if err != nil {
		return fail(err)
	}
	defer rec.close()
	pending, err := loadPending(opts.StateDir)
	if err != nil {
		return fail(err)
	}
	r := &run{ctx: ctx, mode: mode, d: &d, stateDir: opts.StateDir, rec: rec, pending: pending, emit: emit}
	failure := r.all()
	if failure == nil {
		failure = r.fire()
	}
	if failure == nil && mode == wire.Apply {
		failure = rec.compact(r.desiredIDs())
	}
	done := wire.Event{Type: wire.EventDone, Changed: r.changed, Removed: r.removed, Failed: failure != nil}
	if failure != nil {
		done.Diag = wire.Diag("", failure)
	}
	emit(done)
	return failure
}

func (r *run) desiredIDs() []string {
	var ids []string
	for _, it := range r.d.Resources {
		if it.State != wire.Absent {
			ids = append(ids, it.ID)
		}
	}
	return ids
}

// removals are the record's entries the desired state no longer declares,
// last converged first. An entry whose path another kind now claims (a
// file that became a symlink) is only forgotten: removing it would remove
// its successor. So is one under a path declared absent, which takes its
// whole tree with it.
func (r *run) removals() (remove, forget []*Entry) {
	if r.d.Partial {
		return nil, nil // the resources left out are not gone from the spec
	}
	declared := map[string]bool{}
	names := map[string]bool{}
	var absent []string
	for _, it := range r.d.Resources {
		declared[it.ID] = true
		if pathKind(it.Kind) {
			names[it.Name] = true
		}
		if it.Kind == string(spec.KindAbsent) {
			absent = append(absent, it.Name)
		}
	}
	under := func(p string) bool {
		for _, a := range absent {
			if strings.HasPrefix(p, strings.TrimSuffix(a, "/")+"/") {
				return true
			}
		}
		return false
	}
	for _, id := range slices.Backward(r.rec.order) {
		if declared[id] {
			continue
		}
		e := r.rec.entries[id]
		if pathKind(e.Kind) && (names[e.Name] || under(e.Name)) {
			forget = append(forget, e)
			continue
		}
		remove = append(remove, e)
	}
	return remove, forget
}

// all converges the declared resources in order, then removes what left
// the spec. It stops at the first failure: later resources may depend on
// the one that failed, and nothing is removed after a failure.
func (r *run) all() error {
	remove, forget := r.removals()
	r.emit(wire.Event{Type: wire.EventBegin, Total: len(r.d.Resources) + len(remove)})
	for _, it := range r.d.Resources {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		r.emit(wire.Event{Type: wire.EventStart, ID: it.ID})
		var ev wire.Event
		var err error
		if it.State == wire.Absent {
			e := &Entry{ID: it.ID, Kind: it.Kind, Name: it.Name, Notify: it.Notify, DeleteData: it.DeleteData, Spec: it.Spec}
			if old := r.rec.entries[it.ID]; old != nil {
				// What tend made of it before it said absent: a remover
				// told tend created it may remove more (a file it made).
				e.Created, e.Prior = old.Created, old.Prior
			}
			ev, err = r.remove(e, true)
		} else {
			ev, err = r.converge(it)
		}
		r.emit(ev)
		if err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
	}
	if r.mode == wire.Apply {
		for _, e := range forget {
			if err := r.rec.log(journalOp{Delete: e.ID}); err != nil {
				return err
			}
		}
	}
	for _, e := range remove {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		r.emit(wire.Event{Type: wire.EventStart, ID: e.ID, Removal: true})
		ev, err := r.remove(e, false)
		r.emit(ev)
		if err != nil {
			return fmt.Errorf("%s: %w", e.ID, err)
		}
	}
	return nil
}

// converge checks one resource and, in apply mode, makes the change. The
// handlers it notifies are recorded as pending on disk, and the resource
// in the record, before the change is made, so that both survive a run
// that dies right after.
func (r *run) converge(it wire.Item) (wire.Event, error) {
	ev := wire.Event{Type: wire.EventResource, ID: it.ID}
	failed := func(err error) (wire.Event, error) {
		ev.Diag = wire.Diag(it.ID, err)
		return ev, err
	}
	res, err := build(it)
	if err != nil {
		return failed(err)
	}
	c, err := res.Check(r.ctx)
	if err != nil {
		return failed(fmt.Errorf("check: %w", err))
	}
	old := r.rec.entries[it.ID]
	entry := entryOf(it, old, c)
	if c == nil {
		if r.mode == wire.Apply && (old == nil || !same(old, entry)) {
			r.rec.adopt(entry)
		}
		return ev, nil
	}
	if it.Sensitive {
		c.Redact()
	}
	ev.Change = c
	if c.Action == resource.Pending {
		if r.mode == wire.Apply && (old == nil || !same(old, entry)) {
			r.rec.adopt(entry)
		}
		return ev, nil
	}
	if err := r.expected(it.ID, false, c); err != nil {
		return failed(err)
	}
	r.changed++
	if err := r.notify(it.Notify); err != nil {
		return failed(err)
	}
	if r.mode != wire.Apply {
		return ev, nil
	}
	if err := r.rec.log(journalOp{Set: entry}); err != nil {
		return failed(err)
	}
	if err := res.Apply(r.ctx, c); err != nil {
		return failed(fmt.Errorf("apply: %w", err))
	}
	ev.Applied = true
	return ev, nil
}

// remove removes what entry e made on the host: a resource that left the
// spec, or one that says state: absent (explicit). A kept resource is
// dropped from the record, and so reported only once.
func (r *run) remove(e *Entry, explicit bool) (wire.Event, error) {
	ev := wire.Event{Type: wire.EventResource, ID: e.ID, Removal: true}
	failed := func(err error) (wire.Event, error) {
		ev.Diag = wire.Diag(e.ID, err)
		return ev, err
	}
	rm, err := buildRemover(e)
	if err != nil {
		return failed(err)
	}
	how := resource.Removal{Created: e.Created, Explicit: explicit, DeleteData: e.DeleteData, Prior: e.Prior, RemovePackages: r.d.RemovePackages, Going: r.going}
	var c *resource.Change
	if rm == nil {
		c = resource.Kept(fmt.Sprintf("tend does not remove a %s: it stays on the host as it is", e.Kind))
	} else if c, err = rm.CheckRemove(r.ctx, how); err != nil {
		return failed(fmt.Errorf("check removal: %w", err))
	}
	_, recorded := r.rec.entries[e.ID]
	if c == nil {
		if r.mode == wire.Apply && recorded {
			if err := r.rec.log(journalOp{Delete: e.ID}); err != nil {
				return failed(err)
			}
		}
		return ev, nil
	}
	if explicit && c.Action == resource.Keep {
		return failed(errors.New(c.Reason))
	}
	ev.Change = c
	if err := r.expected(e.ID, true, c); err != nil {
		return failed(err)
	}
	r.removed++
	if c.Action == resource.Delete {
		if r.going == nil {
			r.going = map[string]bool{}
		}
		r.going[e.Name] = true
	}
	if c.Action != resource.Keep {
		if err := r.notify(e.Notify); err != nil {
			return failed(err)
		}
	}
	if r.mode != wire.Apply {
		return ev, nil
	}
	if c.Action != resource.Keep {
		if err := rm.Remove(r.ctx, c, how); err != nil {
			return failed(fmt.Errorf("remove: %w", err))
		}
	}
	ev.Applied = true
	if recorded {
		if err := r.rec.log(journalOp{Delete: e.ID}); err != nil {
			return failed(err)
		}
	}
	return ev, nil
}

// expected checks, when a saved plan is applied, that change c of resource
// id is the one the plan showed.
func (r *run) expected(id string, removal bool, c *resource.Change) error {
	if r.d.Expect == nil || r.mode != wire.Apply {
		return nil
	}
	want, ok := r.d.Expect[id]
	switch {
	case !ok:
		return hint.New("the saved plan is stale: it does not list this change", "the host changed since the plan was made: run tend plan again")
	case want != wire.Fingerprint(id, removal, c):
		return hint.New("the saved plan is stale: the host would change otherwise than the plan shows", "the host changed since the plan was made: run tend plan again")
	}
	return nil
}

// notify records the handlers of a changed resource as pending (on disk,
// in apply mode).
func (r *run) notify(names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		addPending(&r.pending, r.d.Handlers, n)
	}
	if r.mode != wire.Apply {
		return nil
	}
	return savePending(r.stateDir, r.pending)
}

func addPending(pending *[]wire.Handler, handlers []wire.Handler, name string) {
	for _, p := range *pending {
		if p.Name == name {
			return
		}
	}
	for _, h := range handlers {
		if h.Name == name {
			*pending = append(*pending, h)
			return
		}
	}
}

// fire runs the pending handlers once each, in the order they are
// declared (role order, then their order in the role), removing each from
// the pending file once it succeeded. In plan mode it only reports them.
func (r *run) fire() error {
	pending := slices.Clone(r.pending)
	rank := map[string]int{}
	for i, h := range r.d.Handlers {
		rank[h.Name] = i
	}
	slices.SortStableFunc(pending, func(a, b wire.Handler) int { return rank[a.Name] - rank[b.Name] })
	for len(pending) > 0 {
		h := pending[0]
		ev := wire.Event{Type: wire.EventHandler, Handler: h.Name}
		if r.mode == wire.Apply {
			var err error
			if h.Command != "" {
				_, err = resource.Command(r.ctx, "/bin/sh", "-c", h.Command)
			} else {
				_, err = resource.Command(r.ctx, "systemctl", h.Action, h.Service+".service")
			}
			if err != nil {
				ev.Diag = wire.Diag("handler "+h.Name, err)
				r.emit(ev)
				return fmt.Errorf("handler %s: %w", h.Name, err)
			}
			ev.Applied = true
			pending = pending[1:]
			if err := savePending(r.stateDir, pending); err != nil {
				return err
			}
		} else {
			pending = pending[1:]
		}
		r.emit(ev)
	}
	return nil
}

func pendingPath(stateDir string) string { return filepath.Join(stateDir, "pending-handlers.json") }

func loadPending(stateDir string) ([]wire.Handler, error) {
	b, err := os.ReadFile(pendingPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hs []wire.Handler
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, fmt.Errorf("agent: %s: %w (remove it to forget pending handlers)", pendingPath(stateDir), err)
	}
	return hs, nil
}

func savePending(stateDir string, hs []wire.Handler) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	if len(hs) == 0 {
		err := os.Remove(pendingPath(stateDir))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	b, _ := json.Marshal(slices.Clip(hs))
	return resource.WriteFile(pendingPath(stateDir), b, resource.Meta{Mode: 0o600, Owner: "root", Group: "root"})
}
