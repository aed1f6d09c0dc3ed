package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/spec"
	"tend/internal/transport/ssh"
	"tend/internal/wire"
)

// revertGrace is how long after the revert window the controller keeps
// trying to reach a host whose new firewall shut it out: the host's
// revert timer fires at the end of the window (AccuracySec=1s).
const revertGrace = 30 * time.Second

// confirmFirewall is the lockout protection's second half. When the run
// applied a firewall change, the host has armed its own revert; a new SSH
// connection, made through the new ruleset, disarms it and persists the
// ruleset (tend agent firewall-confirm). If no new connection gets
// through, the controller keeps trying until the window has passed, and
// reports the revert as the host's failure. It reports its steps to
// Progress as EventConfirm events.
func confirmFirewall(ctx context.Context, t Target, opts Options, events []wire.Event) error {
	id := ""
	for _, e := range events {
		if e.Type == wire.EventResource && e.Applied && !e.Removal && strings.HasPrefix(e.ID, string(spec.KindFirewall)+":") {
			id = e.ID
		}
	}
	if id == "" || opts.Mode != wire.Apply {
		return nil
	}
	window := revertWindow(t.Desired, id)
	report := func(e wire.Event) {
		e.Type, e.ID = wire.EventConfirm, id
		if opts.Progress != nil {
			opts.Progress(t.Name, e)
		}
	}
	deadline := time.Now().Add(window + revertGrace)
	var refused error // the first new connection that failed
	for {
		c, err := ssh.Dial(ctx, t.SSH)
		if err == nil {
			_, err = c.Output(ctx, opts.Agent.remotePath()+" agent firewall-confirm")
			c.Close()
			var ee *ssh.ExitError
			switch {
			case err == nil:
				report(wire.Event{Applied: true})
				return nil
			case errors.As(err, &ee) && refused != nil:
				return hint.Wrap(fmt.Errorf("%s: the new ruleset shut tend out: a new SSH connection failed (%v); the host restored its previous ruleset: %s", id, refused, stderrMessage(ee)),
					"the ruleset must let tend's new SSH connections in: check ssh_from and the allow entries, then apply again")
			case errors.As(err, &ee):
				return hint.Wrap(fmt.Errorf("%s: confirm the new ruleset: %s", id, stderrMessage(ee)),
					"the host restores its previous ruleset when the confirmation comes too late: a longer revert_after may help")
			default:
				return fmt.Errorf("%s: confirm the new ruleset: %w", id, err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if refused == nil {
			refused = err
			report(wire.Event{Diag: wire.Diag(id, fmt.Errorf("a new SSH connection failed (%v): the host restores its previous ruleset within %s", err, window))})
		}
		if time.Now().After(deadline) {
			return hint.Wrap(fmt.Errorf("%s: the new ruleset shut tend out: a new SSH connection failed (%v), and the host is still unreachable %s after the revert window", id, refused, revertGrace),
				"reach the host another way (console): the previous ruleset is in /var/lib/tend/firewall/previous.nft")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// revertWindow is the firewall's revert_after, as the desired state says.
func revertWindow(d *wire.Desired, id string) time.Duration {
	for _, it := range d.Resources {
		var s spec.Firewall
		if it.ID == id && json.Unmarshal(it.Spec, &s) == nil {
			if w, err := time.ParseDuration(s.RevertAfter); err == nil && w > 0 {
				return w
			}
		}
	}
	return 60 * time.Second
}

// stderrMessage is what tend printed on the host, without its prefix.
func stderrMessage(ee *ssh.ExitError) string {
	msg := strings.TrimSpace(ee.Stderr)
	msg = strings.TrimPrefix(msg, "tend: error: ")
	if msg == "" {
		msg = ee.Error()
	}
	return msg
}
