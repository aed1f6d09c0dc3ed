// Package wire holds the messages that cross between the control machine
// and tend's agent on a host: the desired state sent to the agent, the
// events it streams back, and the diagnostics inside them. Both ends import
// it and nothing else of each other, so the wire format is these types and
// their explicit JSON names, versioned by Protocol: renaming a Go field
// never changes what a host running another agent reads.
package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"tend/internal/hint"
)

// Protocol is the version of the formats below. An agent refuses a desired
// state of another version; the controller uploads its own agent, so both
// ends normally speak the same one.
const Protocol = 2

// Desired is a host's whole desired state, as sent to the agent.
type Desired struct {
	Protocol  int       `json:"protocol"`
	Host      string    `json:"host"`
	Resources []Item    `json:"resources"` // in convergence order
	Handlers  []Handler `json:"handlers"`
	// RemovePackages: a package that leaves the spec is removed from the
	// host even when it did not say purge_on_removal (tend.yaml's
	// remove_unmanaged_packages).
	RemovePackages bool `json:"remove_packages,omitempty"`
	// Partial: Resources are a part of the host's (plan/apply --only or
	// --skip). What the host has and they lack is not removed: it may be
	// in the part left out.
	Partial bool `json:"partial,omitempty"`
	// Expect, when set, is the saved plan being applied: resource id ->
	// fingerprint of the change the plan showed (see Fingerprint). The
	// agent applies a change only when it is the one expected, and stops
	// before changing anything else: a resource to change that the plan
	// did not list, or listed with another change, fails the run as stale.
	// No omitempty: an empty map (a plan with no change on this host, so
	// any change is stale) must not read as null (no plan).
	Expect map[string]string `json:"expect"`
}

// Fingerprint identifies a change of resource id (a removal when removal),
// for saved plans: the same change on the same resource has the same
// fingerprint. Sensitive changes are redacted before they are
// fingerprinted, so a fingerprint reveals nothing.
func Fingerprint(id string, removal bool, c *Change) string {
	b, _ := json.Marshal(struct {
		ID      string  `json:"id"`
		Removal bool    `json:"removal"`
		Change  *Change `json:"change"`
	}{id, removal, c})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// State is what a resource of the desired state asks for.
type State string

// The states. The empty state is present.
const (
	Present State = ""
	Absent  State = "absent" // remove it from the host, whoever made it
)

// Item is one resource of the desired state.
type Item struct {
	ID        string   `json:"id"` // kind:name
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	State     State    `json:"state,omitempty"`
	Notify    []string `json:"notify,omitempty"`
	Sensitive bool     `json:"sensitive,omitempty"`
	// DeleteData allows a removal that destroys data (a database, a
	// directory that is not empty).
	DeleteData bool            `json:"delete_data,omitempty"`
	Spec       json.RawMessage `json:"spec"`
}

// Handler acts on a service when a resource that notifies it changed.
type Handler struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Action  string `json:"action"` // reload or restart
	// Command, instead of Service and Action: run with sh -c as root.
	Command string `json:"command,omitempty"`
}

// Mode is what a run does.
type Mode string

// The modes.
const (
	Plan  Mode = "plan"  // check only; nothing changes on the host
	Apply Mode = "apply" // converge
)

// EventType says what an event reports.
type EventType string

// The event types, in the order a run sends them: one begin, then for each
// resource a start and a resource event, then handler events, then done.
const (
	EventBegin    EventType = "begin"    // the run starts: Total says how many resources and removals
	EventStart    EventType = "start"    // a resource is being checked (and applied)
	EventResource EventType = "resource" // a resource was checked (and applied)
	EventHandler  EventType = "handler"  // a handler ran, or would run
	EventDone     EventType = "done"     // the last event of a run
	// EventConfirm comes from the controller, after done: a firewall
	// change confirmed over a new SSH connection (Applied), or a new
	// connection that failed (Diag) while the host's revert is armed.
	EventConfirm EventType = "confirm"
)

// Event is one line of the agent's output.
type Event struct {
	Type    EventType `json:"type"`
	ID      string    `json:"id,omitempty"`      // resource id
	Handler string    `json:"handler,omitempty"` // handler name
	// Removal: the resource left the spec (or says state: absent) and the
	// change removes it.
	Removal bool    `json:"removal,omitempty"`
	Change  *Change `json:"change,omitempty"`  // nil: in sync
	Applied bool    `json:"applied,omitempty"` // the change was made
	// Diag is what failed, for a resource, a handler or (on done) the run.
	Diag    *Diagnostic `json:"diag,omitempty"`
	Total   int         `json:"total,omitempty"`   // begin: resources and removals to go through
	Changed int         `json:"changed,omitempty"` // done: resources changed or to change
	Removed int         `json:"removed,omitempty"` // done: resources removed or to remove
	Failed  bool        `json:"failed,omitempty"`  // done: the run failed
}

// Action is what a change does to a resource.
type Action string

// The actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	Run    Action = "run"  // a command that runs (it has no state to compare)
	Keep   Action = "keep" // a resource that left the spec but stays on the host: Reason says why
	// Pending: the host has the desired state but it takes effect only
	// after something tend may not do (a restart the spec does not
	// allow): Reason says what. Nothing is applied and it counts as no
	// change, so a drift check is not stuck on it; the plan shows it.
	Pending Action = "pending"
)

// Change is what must change for one resource.
type Change struct {
	Action Action  `json:"action"`
	Fields []Field `json:"fields,omitempty"` // attributes that differ
	Diff   string  `json:"diff,omitempty"`   // unified diff of contents
	// Reason says why a resource is kept, or anything else the user must
	// know about the change.
	Reason string `json:"reason,omitempty"`
	// Sensitive changes never show values: the agent blanks Diff and the
	// values of Fields before a change leaves the host.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Field is one attribute that differs: From is what the host has ("" when
// absent), To what is desired.
type Field struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Add records that attribute name differs, when from != to.
func (c *Change) Add(name, from, to string) {
	if from != to {
		c.Fields = append(c.Fields, Field{Name: name, From: from, To: to})
	}
}

// Has reports whether the change touches attribute name.
func (c *Change) Has(name string) bool {
	for _, f := range c.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Redact removes every value from the change, for sensitive resources.
func (c *Change) Redact() {
	c.Sensitive = true
	if c.Diff != "" {
		c.Diff = ""
		if !c.Has("content") {
			c.Fields = append(c.Fields, Field{Name: "content", From: "(sensitive)", To: "(sensitive value changed)"})
		}
	}
	for i := range c.Fields {
		if c.Fields[i].Name == "content" {
			c.Fields[i].From, c.Fields[i].To = "(sensitive)", "(sensitive value changed)"
		}
	}
}

// Summary is a one-line description of the change, without values of
// sensitive changes.
func (c *Change) Summary() string {
	var parts []string
	for _, f := range c.Fields {
		if f.Name == "content" && c.Sensitive {
			parts = append(parts, "content (sensitive value changed)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s -> %s", f.Name, orNone(f.From), orNone(f.To)))
	}
	if c.Reason != "" {
		parts = append(parts, c.Reason)
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Diagnostic is an error as it crosses the wire: what failed, the hint that
// tells the user what to do, and the resource it is about.
type Diagnostic struct {
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
	Resource string `json:"resource,omitempty"` // resource id, or "handler NAME"
}

// Diag makes the diagnostic of err, keeping its hint.
func Diag(resource string, err error) *Diagnostic {
	if err == nil {
		return nil
	}
	return &Diagnostic{Message: err.Error(), Hint: hint.Of(err), Resource: resource}
}

// Err turns a diagnostic back into an error that carries its hint, so the
// controller prints it as it prints its own errors.
func (d *Diagnostic) Err() error {
	if d == nil {
		return nil
	}
	err := errors.New(d.Message)
	if d.Hint != "" {
		return hint.Wrap(err, d.Hint)
	}
	return err
}

// Failure is the message of what failed in the event, or "".
func (e Event) Failure() string {
	if e.Diag == nil {
		return ""
	}
	return e.Diag.Message
}
