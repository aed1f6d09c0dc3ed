package agent

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	restunnel "tend/internal/resource/tunnel"
	"tend/internal/tunnel"
	"tend/internal/wire"
)

// ExpiryWarning is how close to its expiry a tunnel certificate is a
// problem: apply renews certificates every tunnel.Period, so one this
// close means applies stopped.
const ExpiryWarning = 3 * 24 * time.Hour

// tunnelStatus returns the health of every tunnel side configured on the
// host: what its daemon recorded, whether its unit runs, and for a client
// side a handshake with its server made now.
func tunnelStatus(ctx context.Context, now time.Time) []wire.TunnelStatus {
	confs, _ := filepath.Glob(filepath.Join(restunnel.ConfigDir, "*.json"))
	var out []wire.TunnelStatus
	for _, p := range confs {
		c, err := tunnel.LoadConfig(p)
		if err != nil {
			out = append(out, wire.TunnelStatus{Link: p, Problem: err.Error()})
			continue
		}
		st := wire.TunnelStatus{Link: c.Name, Side: c.Side, Listen: c.Listen, Dial: c.Dial}
		var problems []string
		if c.Stunnel {
			// stunnel4 runs it: its unit, and the certificate tend wrote
			// for it (stunnel records nothing tend reads).
			st.Stunnel = true
			unit := tunnel.StunnelUnit(c.Name)
			out2, _ := exec.CommandContext(ctx, "systemctl", "is-active", unit).Output()
			if st.Connected = strings.TrimSpace(string(out2)) == "active"; !st.Connected {
				problems = append(problems, "stunnel4 runs this side, and "+unit+" is not running (journalctl -u "+unit+")")
			}
			st.CertNotAfter, _ = tunnel.CertNotAfter(c.Credentials)
			problems = append(problems, expiry(st.CertNotAfter, now)...)
			st.Problem = strings.Join(problems, "; ")
			out = append(out, st)
			continue
		}
		if h, err := tunnel.ReadHealth(c.Status); err == nil {
			st.Active, st.LastConnected, st.CertNotAfter = h.Active, h.LastConnected, h.CertNotAfter
			st.LastError, st.LastErrorTime = h.LastError, h.LastErrorTime
		}
		unit := restunnel.Unit(c.Name)
		out2, _ := exec.CommandContext(ctx, "systemctl", "is-active", unit).Output()
		running := strings.TrimSpace(string(out2)) == "active"
		switch {
		case !running:
			problems = append(problems, "not running (journalctl -u "+unit+")")
		case c.Side == tunnel.Client:
			if err := tunnel.Probe(ctx, c); err != nil {
				problems = append(problems, "cannot connect to the server: "+err.Error())
			} else {
				st.Connected = true
			}
		default:
			st.Connected = true
		}
		problems = append(problems, expiry(st.CertNotAfter, now)...)
		st.Problem = strings.Join(problems, "; ")
		out = append(out, st)
	}
	return out
}

// expiry says what is wrong with a certificate valid until notAfter.
func expiry(notAfter, now time.Time) []string {
	switch left := notAfter.Sub(now); {
	case notAfter.IsZero():
	case left <= 0:
		return []string{"certificate expired at " + notAfter.Format(time.RFC3339) + ": run tend apply"}
	case left < ExpiryWarning:
		return []string{fmt.Sprintf("certificate expires in %s: run tend apply, which renews it", left.Round(time.Hour))}
	}
	return nil
}
