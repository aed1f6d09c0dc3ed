// Package resource defines what every kind of resource implements: compare
// the host with the desired state (Check, which changes nothing) and make
// them match (Apply). Implementations live in one package per kind under
// internal/resource/ and run on the host, inside tend's agent, as root.
// This package also holds what they share: atomic file writes, owners,
// commands, and unified diffs.
package resource

import (
	"context"
	"fmt"
	"strings"
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

// Action is what a change does to a resource.
type Action string

// The actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	Run    Action = "run" // a command that runs (it has no state to compare)
)

// Change is what must change for one resource.
type Change struct {
	Action Action  `json:"action"`
	Fields []Field `json:"fields,omitempty"` // attributes that differ
	Diff   string  `json:"diff,omitempty"`   // unified diff of contents
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
		c.Fields = append(c.Fields, Field{Name: "content", From: "(sensitive)", To: "(sensitive value changed)"})
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
		if f.Name == "content" {
			if c.Sensitive {
				parts = append(parts, "content (sensitive value changed)")
				continue
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s -> %s", f.Name, orNone(f.From), orNone(f.To)))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
