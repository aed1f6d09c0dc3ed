// Package agent is what tend runs on a host: it reads the host's whole
// desired state on standard input, checks every resource in order, converges
// them (apply) or only reports (plan), fires handlers once at the end, and
// writes a stream of JSON events on standard output. Handlers notified by a
// run that failed are kept on the host and fired by the next run.
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

	"tend/internal/resource"
	"tend/internal/spec"
)

// Protocol is the version of the desired state and event formats; the
// agent refuses a desired state of another version.
const Protocol = 1

// Desired is a host's whole desired state, as sent to the agent.
type Desired struct {
	Protocol  int       `json:"protocol"`
	Host      string    `json:"host"`
	Resources []Item    `json:"resources"` // in convergence order
	Handlers  []Handler `json:"handlers"`
}

// Item is one resource of the desired state.
type Item struct {
	ID        string          `json:"id"`
	Kind      spec.Kind       `json:"kind"`
	Name      string          `json:"name"`
	Notify    []string        `json:"notify,omitempty"`
	Sensitive bool            `json:"sensitive,omitempty"`
	Spec      json.RawMessage `json:"spec"`
}

// Handler acts on a service when a resource that notifies it changed.
type Handler struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Action  string `json:"action"` // reload or restart
}

// FromSpec builds the desired state of a compiled host.
func FromSpec(h *spec.Host) (*Desired, error) {
	d := &Desired{Protocol: Protocol, Host: h.Name}
	for _, r := range h.Resources {
		b, err := json.Marshal(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.ID, err)
		}
		d.Resources = append(d.Resources, Item{ID: r.ID, Kind: r.Kind, Name: r.Name, Notify: r.Notify, Sensitive: r.Sensitive, Spec: b})
	}
	for _, hd := range h.Handlers {
		d.Handlers = append(d.Handlers, Handler{Name: hd.Name, Service: hd.Service, Action: hd.Action})
	}
	return d, nil
}

// EventType says what an event reports.
type EventType string

// The event types.
const (
	EventResource EventType = "resource" // a resource checked (and applied)
	EventHandler  EventType = "handler"  // a handler ran, or would run
	EventDone     EventType = "done"     // the last event of a run
)

// Event is one line of the agent's output.
type Event struct {
	Type    EventType        `json:"type"`
	ID      string           `json:"id,omitempty"`      // resource id
	Handler string           `json:"handler,omitempty"` // handler name
	Change  *resource.Change `json:"change,omitempty"`  // nil: in sync
	Applied bool             `json:"applied,omitempty"` // the change was made
	Error   string           `json:"error,omitempty"`
	Changed int              `json:"changed,omitempty"` // done: resources changed or to change
	Failed  bool             `json:"failed,omitempty"`  // done: the run failed
}

// Mode is what a run does.
type Mode string

// The modes.
const (
	Plan  Mode = "plan"  // check only; nothing changes on the host
	Apply Mode = "apply" // converge
)

// Options are where the agent keeps its own state on the host.
type Options struct {
	StateDir string // default /var/lib/tend
}

// Run reads a desired state from in and runs it in mode, writing events to
// out. It returns an error when the run failed; the events say where.
func Run(ctx context.Context, mode Mode, in io.Reader, out io.Writer, opts Options) error {
	if opts.StateDir == "" {
		opts.StateDir = "/var/lib/tend"
	}
	enc := json.NewEncoder(out)
	emit := func(e Event) {
		_ = enc.Encode(e)
	}
	var d Desired
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		err = fmt.Errorf("agent: read desired state: %w", err)
		emit(Event{Type: EventDone, Failed: true, Error: err.Error()})
		return err
	}
	if d.Protocol != Protocol {
		err := fmt.Errorf("agent: desired state protocol %d, this agent speaks %d: run the same tend version on both ends", d.Protocol, Protocol)
		emit(Event{Type: EventDone, Failed: true, Error: err.Error()})
		return err
	}
	pending, err := loadPending(opts.StateDir)
	if err != nil {
		emit(Event{Type: EventDone, Failed: true, Error: err.Error()})
		return err
	}
	changed := 0
	var failure error
	for _, it := range d.Resources {
		if err := ctx.Err(); err != nil {
			failure = err
			break
		}
		ev, err := converge(ctx, mode, it, d.Handlers, &pending, opts.StateDir)
		if ev.Change != nil {
			changed++
		}
		if err != nil {
			ev.Error = err.Error()
			failure = fmt.Errorf("%s: %w", it.ID, err)
		}
		emit(ev)
		if failure != nil {
			break // later resources may depend on this one
		}
	}
	if failure == nil {
		failure = fire(ctx, mode, pending, emit, opts.StateDir)
	}
	done := Event{Type: EventDone, Changed: changed, Failed: failure != nil}
	if failure != nil {
		done.Error = failure.Error()
	}
	emit(done)
	return failure
}

// converge checks one resource and, in apply mode, makes the change. The
// handlers it notifies are recorded as pending on disk before the change is
// made, so that they fire even if this run dies right after.
func converge(ctx context.Context, mode Mode, it Item, handlers []Handler, pending *[]Handler, stateDir string) (Event, error) {
	ev := Event{Type: EventResource, ID: it.ID}
	r, err := build(it)
	if err != nil {
		return ev, err
	}
	c, err := r.Check(ctx)
	if err != nil {
		return ev, fmt.Errorf("check: %w", err)
	}
	if c == nil {
		return ev, nil
	}
	if it.Sensitive {
		c.Redact()
	}
	ev.Change = c
	if mode != Apply {
		for _, n := range it.Notify {
			addPending(pending, handlers, n)
		}
		return ev, nil
	}
	if len(it.Notify) > 0 {
		for _, n := range it.Notify {
			addPending(pending, handlers, n)
		}
		if err := savePending(stateDir, *pending); err != nil {
			return ev, err
		}
	}
	if err := r.Apply(ctx, c); err != nil {
		return ev, fmt.Errorf("apply: %w", err)
	}
	ev.Applied = true
	return ev, nil
}

func addPending(pending *[]Handler, handlers []Handler, name string) {
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

// fire runs the pending handlers once each, in order, removing each from the
// pending file once it succeeded. In plan mode it only reports them.
func fire(ctx context.Context, mode Mode, pending []Handler, emit func(Event), stateDir string) error {
	for len(pending) > 0 {
		h := pending[0]
		ev := Event{Type: EventHandler, Handler: h.Name}
		if mode == Apply {
			if _, err := resource.Command(ctx, "systemctl", h.Action, h.Service+".service"); err != nil {
				ev.Error = err.Error()
				emit(ev)
				return fmt.Errorf("handler %s: %w", h.Name, err)
			}
			ev.Applied = true
			pending = pending[1:]
			if err := savePending(stateDir, pending); err != nil {
				return err
			}
		} else {
			pending = pending[1:]
		}
		emit(ev)
	}
	return nil
}

func pendingPath(stateDir string) string { return filepath.Join(stateDir, "pending-handlers.json") }

func loadPending(stateDir string) ([]Handler, error) {
	b, err := os.ReadFile(pendingPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hs []Handler
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, fmt.Errorf("agent: %s: %w (remove it to forget pending handlers)", pendingPath(stateDir), err)
	}
	return hs, nil
}

func savePending(stateDir string, hs []Handler) error {
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

// build makes the resource of an item; a kind the spec knows but this agent
// does not is an error.
func build(it Item) (resource.Resource, error) {
	newKind, ok := registry()[it.Kind]
	if !ok {
		return nil, fmt.Errorf("resource kind %q is not implemented yet by this tend version", it.Kind)
	}
	r, err := newKind(it.Name, it.Spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", it.Kind, err)
	}
	return r, nil
}
