// Package firewall implements the firewall resource: the host's whole
// firewall as one nftables table, inet tend, rendered from the compiled
// firewall spec and applied atomically with nft -f, leaving every other
// table (fail2ban's, docker's) alone.
//
// A change is guarded against locking tend out. Check refuses a ruleset
// that would not let a new connection from tend's own SSH session in
// (SSH_CONNECTION) unless the spec says allow_lockout. Apply saves the
// live table, arms a systemd transient timer on the host that restores it
// after the revert window, then loads the new table; the persisted file
// that the boot unit loads (/etc/tend/firewall.nft) is not replaced yet,
// so a reboot in the window boots with the previous rules. Only Confirm,
// which the controller runs over a new SSH connection, disarms the revert
// and persists the new ruleset.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/resource"
	"tend/internal/spec"
)

// Paths are where the firewall lives on the host; tests may point them
// elsewhere.
type Paths struct {
	Persist string // the confirmed ruleset the boot unit loads: /etc/tend/firewall.nft
	State   string // the saved, pending and listed rulesets: /var/lib/tend/firewall
	Unit    string // the boot unit: /etc/systemd/system/tend-firewall.service
}

// DefaultPaths are the real locations.
var DefaultPaths = Paths{
	Persist: "/etc/tend/firewall.nft",
	State:   "/var/lib/tend/firewall",
	Unit:    "/etc/systemd/system/" + BootUnit,
}

// BootUnit loads the persisted ruleset at boot; RevertUnit is the transient
// unit (a .timer and its .service) that restores the previous one.
const (
	BootUnit   = "tend-firewall.service"
	RevertUnit = "tend-firewall-revert"
)

func (p Paths) previous() string    { return filepath.Join(p.State, "previous.nft") }
func (p Paths) pending() string     { return filepath.Join(p.State, "pending.nft") }
func (p Paths) pendingList() string { return filepath.Join(p.State, "pending.list") }
func (p Paths) liveList() string    { return filepath.Join(p.State, "live.list") }

// Ruleset is the firewall resource.
type Ruleset struct {
	Spec   *spec.Firewall
	Text   string        // the rendered nft file
	Window time.Duration // the revert window
	Paths  Paths
	// SSH is the agent's own SSH session as the host sees it
	// (SSH_CONNECTION): the connection a ruleset must keep letting in.
	SSH string
}

// New makes the firewall resource of a compiled spec.
func New(name string, s *spec.Firewall) (*Ruleset, error) {
	text, err := Render(s)
	if err != nil {
		return nil, err
	}
	w, err := time.ParseDuration(s.RevertAfter)
	if err != nil || w <= 0 {
		return nil, fmt.Errorf("revert_after %q: not a duration", s.RevertAfter)
	}
	return &Ruleset{Spec: s, Text: text, Window: w, Paths: DefaultPaths, SSH: os.Getenv("SSH_CONNECTION")}, nil
}

func bootUnit(p Paths) string {
	return `# Managed by tend: loads tend's firewall (table inet tend) at boot.
[Unit]
Description=tend host firewall (table inet tend)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=nftables.service
Conflicts=shutdown.target
ConditionPathExists=` + p.Persist + `

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ` + p.Persist + `

[Install]
WantedBy=sysinit.target
`
}

// List returns the live table as nft lists it (stateless), or "" when the
// host has no table inet tend.
func List(ctx context.Context) (string, error) {
	out, err := resource.Command(ctx, "nft", "-s", "list", "table", "inet", "tend")
	if err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return "", nil
		}
		return "", err
	}
	return out, nil
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

// Check implements resource.Resource. The ruleset is in sync when the
// confirmed file is the one desired and the live table is still the one
// that file gave (nothing changed it since, no revert restored another).
func (r *Ruleset) Check(ctx context.Context) (*resource.Change, error) {
	if err := r.lockout(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("nft"); err != nil {
		// A fresh host whose nftables package this run installs first:
		// the plan shows the ruleset; apply needs nft by then.
		return &resource.Change{Action: resource.Create, Diff: resource.Diff("table inet tend", "", r.Text),
			Reason: "nft is not installed yet: declare - package: nftables, and requires: [package:nftables] on the firewall"}, nil
	}
	have, err := readFile(r.Paths.Persist)
	if err != nil {
		return nil, err
	}
	live, err := List(ctx)
	if err != nil {
		return nil, err
	}
	listed, err := readFile(r.Paths.liveList())
	if err != nil {
		return nil, err
	}
	unit, err := readFile(r.Paths.Unit)
	if err != nil {
		return nil, err
	}
	unitOK := unit == bootUnit(r.Paths)
	if live != "" && live == listed && have == r.Text && unitOK {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Update}
	from := have
	if live != listed || live == "" {
		// Someone changed the table, or a revert restored the previous
		// one: show what is live.
		from = live
		if live != "" || have != "" {
			c.Reason = "the live table inet tend is not the one tend applied last (changed outside tend, or reverted)"
		}
	}
	if from == "" {
		c.Action = resource.Create
	}
	c.Diff = resource.Diff("table inet tend", from, r.Text)
	if !unitOK {
		c.Add("boot unit", map[bool]string{true: "", false: "differs"}[unit == ""], BootUnit)
	}
	return c, nil
}

// lockout refuses a ruleset that would not let a new SSH connection in
// from where tend connects now, unless the spec allows it.
func (r *Ruleset) lockout() error {
	if r.Spec.AllowLockout || r.Spec.InputPolicy == "accept" || r.SSH == "" {
		return nil
	}
	f := strings.Fields(r.SSH) // client_ip client_port server_ip server_port
	if len(f) != 4 {
		return nil
	}
	client, err := netip.ParseAddr(f[0])
	if err != nil {
		return nil
	}
	port, err := strconv.Atoi(f[3])
	if err != nil {
		return nil
	}
	for _, e := range r.Spec.Allow {
		if rule, err := spec.ParseRule(e); err == nil && rule.Allows("tcp", client, uint16(port)) {
			return nil
		}
	}
	return hint.New(fmt.Sprintf("the ruleset would refuse new SSH connections from %s to port %d, where tend connects from: tend would lock itself out", client, port),
		"allow it (ssh_from, or an allow entry), or set allow_lockout: true on the firewall to apply it anyway (the host still reverts it unless tend reaches it again)")
}

var meta = resource.Meta{Mode: 0o600, Owner: "root", Group: "root"}

// Apply implements resource.Resource: save the live table, arm the revert,
// load the new table. The confirmed file stays as it was until Confirm.
func (r *Ruleset) Apply(ctx context.Context, _ *resource.Change) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return hint.New("nft is not installed", "declare - package: nftables, and requires: [package:nftables] on the firewall")
	}
	if err := os.MkdirAll(r.Paths.State, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(r.Paths.pending(), []byte(r.Text), 0o600); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "nft", "-c", "-f", r.Paths.pending()); err != nil {
		os.Remove(r.Paths.pending())
		return fmt.Errorf("the ruleset does not load: %w", err)
	}
	live, err := List(ctx)
	if err != nil {
		return err
	}
	if err := resource.WriteFile(r.Paths.previous(), []byte("# tend: the table before the last change, restored by "+RevertUnit+"\n"+reset+live), meta); err != nil {
		return err
	}
	if err := os.Remove(r.Paths.pendingList()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := r.arm(ctx); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "nft", "-f", r.Paths.pending()); err != nil {
		disarm(ctx)
		return err
	}
	now, err := List(ctx)
	if err != nil {
		return err
	}
	if err := resource.WriteFile(r.Paths.pendingList(), []byte(now), meta); err != nil {
		return err
	}
	if err := r.installUnit(ctx); err != nil {
		return err
	}
	return nil
}

// arm starts the revert timer: after the window, unless Confirm stopped
// it, the host loads the saved table back. It does so only while a change
// is pending, so a timer that fires late never undoes a confirmed one.
func (r *Ruleset) arm(ctx context.Context) error {
	disarm(ctx)
	script := fmt.Sprintf("[ -e %s ] || exit 0; nft -f %s && rm -f %s %s", r.Paths.pending(), r.Paths.previous(), r.Paths.pending(), r.Paths.pendingList())
	secs := strconv.Itoa(int(r.Window / time.Second))
	_, err := resource.Command(ctx, "systemd-run", "--unit="+RevertUnit, "--description=tend: restore the previous firewall unless tend confirms the new one",
		"--on-active="+secs+"s", "--timer-property=AccuracySec=1s", "/bin/sh", "-c", script)
	if err != nil {
		return fmt.Errorf("arm the revert: %w", err)
	}
	return nil
}

// disarm stops the revert timer and forgets its units (a transient unit
// that ran stays loaded, failed or not, and would keep systemd-run from
// making it again).
func disarm(ctx context.Context) {
	_, _ = resource.Command(ctx, "systemctl", "stop", RevertUnit+".timer")
	_, _ = resource.Command(ctx, "systemctl", "reset-failed", RevertUnit+".timer", RevertUnit+".service")
}

func (r *Ruleset) installUnit(ctx context.Context) error {
	unit, err := readFile(r.Paths.Unit)
	if err != nil {
		return err
	}
	if unit == bootUnit(r.Paths) {
		return nil
	}
	if err := resource.WriteFile(r.Paths.Unit, []byte(bootUnit(r.Paths)), resource.Meta{Mode: 0o644, Owner: "root", Group: "root"}); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
		return err
	}
	_, err = resource.Command(ctx, "systemctl", "enable", BootUnit)
	return err
}

// ErrReverted says that the host restored its previous ruleset before the
// change was confirmed.
var ErrReverted = errors.New("the host restored its previous firewall ruleset: the new one was not confirmed within the revert window")

// Confirm makes the pending ruleset the host's: it stops the revert timer,
// then persists the ruleset the boot unit loads. It is what the controller
// runs over a new SSH connection once that connection got through. When
// the revert already ran (or the host rebooted into the previous rules),
// it returns ErrReverted. Confirming with nothing pending does nothing.
func Confirm(ctx context.Context, p Paths) error {
	disarm(ctx)
	text, err := readFile(p.pending())
	if err != nil {
		return err
	}
	if text == "" {
		if _, err := os.Stat(p.previous()); err == nil {
			os.Remove(p.previous())
			return ErrReverted
		}
		return nil
	}
	listed, err := readFile(p.pendingList())
	if err != nil {
		return err
	}
	live, err := List(ctx)
	if err != nil {
		return err
	}
	if live != listed {
		os.Remove(p.pending())
		os.Remove(p.pendingList())
		os.Remove(p.previous())
		return ErrReverted
	}
	if err := os.MkdirAll(filepath.Dir(p.Persist), 0o755); err != nil {
		return err
	}
	if err := resource.WriteFile(p.Persist, []byte(text), meta); err != nil {
		return err
	}
	if err := resource.WriteFile(p.liveList(), []byte(listed), meta); err != nil {
		return err
	}
	for _, f := range []string{p.pending(), p.pendingList(), p.previous()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Removal removes tend's firewall: the table goes (what other tables say
// stays; with no other table the host accepts everything again), and so
// do the persisted file and the boot unit.
type Removal struct{ Paths Paths }

// NewRemoval makes the removal of the firewall.
func NewRemoval() *Removal { return &Removal{Paths: DefaultPaths} }

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, _ resource.Removal) (*resource.Change, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, nil // without nft there is no table to remove
	}
	live, err := List(ctx)
	if err != nil {
		return nil, err
	}
	persisted, err := readFile(r.Paths.Persist)
	if err != nil {
		return nil, err
	}
	unit, err := readFile(r.Paths.Unit)
	if err != nil {
		return nil, err
	}
	if live == "" && persisted == "" && unit == "" {
		return nil, nil
	}
	c := &resource.Change{Action: resource.Delete, Diff: resource.Diff("table inet tend", live, ""),
		Reason: "tend's table inet tend is deleted: with no other table the host accepts all traffic again"}
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, _ *resource.Change, _ resource.Removal) error {
	disarm(ctx)
	if err := os.MkdirAll(r.Paths.State, 0o700); err != nil {
		return err
	}
	f := filepath.Join(r.Paths.State, "remove.nft")
	if err := os.WriteFile(f, []byte(removal), 0o600); err != nil {
		return err
	}
	if _, err := resource.Command(ctx, "nft", "-f", f); err != nil {
		return err
	}
	if _, err := os.Stat(r.Paths.Unit); err == nil {
		if _, err := resource.Command(ctx, "systemctl", "disable", BootUnit); err != nil {
			return err
		}
	}
	for _, p := range []string{r.Paths.Persist, r.Paths.Unit, r.Paths.liveList(), r.Paths.pending(), r.Paths.pendingList(), r.Paths.previous(), f} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	_, err := resource.Command(ctx, "systemctl", "daemon-reload")
	return err
}
