// Package tunnel implements the tunnel resource: one side of a mutual-TLS
// link on a host, run by its own systemd unit, tend-tunnel-NAME.service
// ("tend agent tunnel", see internal/tunnel), so that changing or removing
// one link never touches another. Its parts: tend's binary at a stable
// path, the daemon's configuration (/etc/tend/tunnel/NAME.json), its
// credentials (CA, certificate and key, NAME.pem, mode 0600) and the unit.
// A new certificate is loaded by a reload (SIGHUP), which keeps open
// connections, and so are other peers (a client host added or removed);
// a new address or unit restarts that link's daemon.
// Apply confirms the running daemon serves the certificate on disk.
// Removal stops the unit and deletes its files.
package tunnel

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"tend/internal/resource"
	"tend/internal/resource/file"
	"tend/internal/resource/scheduled"
	"tend/internal/resource/timer"
	"tend/internal/spec"
	"tend/internal/tunnel"
)

// Where a link's files live.
const (
	ConfigDir = "/etc/tend/tunnel"
	HealthDir = "/var/lib/tend/tunnel"
)

// Unit is the systemd unit name of link name.
func Unit(name string) string { return "tend-tunnel-" + name + ".service" }

// Paths returns the configuration and credentials files and the health
// record of link name.
func Paths(name string) (conf, creds, health string) {
	return filepath.Join(ConfigDir, name+".json"), filepath.Join(ConfigDir, name+".pem"), filepath.Join(HealthDir, name+".json")
}

// Config returns the daemon configuration of one side of link name.
func Config(name string, s *spec.Tunnel) (*tunnel.Config, error) {
	_, creds, health := Paths(name)
	c := &tunnel.Config{Name: name, Side: s.Side, Credentials: creds, Status: health, Stunnel: s.StunnelSide}
	server := tunnel.Identity(s.Env, name, tunnel.Server, "")
	switch s.Side {
	case spec.TunnelServer:
		c.Listen, c.Dial, c.Identity = s.Bind, s.To, server
		for _, p := range s.Peers {
			c.Accept = append(c.Accept, tunnel.Identity(s.Env, name, tunnel.Client, p))
		}
	case spec.TunnelClient:
		if len(s.Peers) != 1 {
			return nil, fmt.Errorf("client side of %s: want its own host in peers, have %v", name, s.Peers)
		}
		c.Listen, c.Dial, c.Identity, c.Accept = s.Listen, s.Connect, tunnel.Identity(s.Env, name, tunnel.Client, s.Peers[0]), []string{server}
	default:
		return nil, fmt.Errorf("tunnel %s: side %q is neither server nor client (compiled by an older tend?)", name, s.Side)
	}
	return c, nil
}

// Tunnel is one side of a link. A side that stunnel4 runs (Stunnel in its
// configuration) has its configuration and credentials only: no unit, and
// a unit of tend's left from before is stopped and removed.
type Tunnel struct {
	name                      string
	conf                      *tunnel.Config
	confFile, credsFile, unit resource.Resource
	serial                    string // of the desired certificate
	dirs                      []resource.Resource
}

func unitText(name, side, conf string) string {
	return "# Managed by tend: changes here are overwritten.\n" +
		"[Unit]\n" +
		"Description=tend tunnel " + name + " (" + side + " side)\n" +
		"After=network-online.target\n" +
		"Wants=network-online.target\n" +
		"\n[Service]\n" +
		"Type=notify\n" +
		"ExecStart=" + scheduled.Binary + " agent tunnel --config " + conf + "\n" +
		"ExecReload=/bin/kill -HUP $MAINPID\n" +
		"Restart=always\n" +
		"RestartSec=2\n" +
		// It reads its files and writes its health record, nothing else.
		"NoNewPrivileges=yes\n" +
		"PrivateTmp=yes\n" +
		"ProtectSystem=strict\n" +
		"ProtectHome=yes\n" +
		"ReadWritePaths=" + HealthDir + "\n" +
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" +
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n" +
		"\n[Install]\n" +
		"WantedBy=multi-user.target\n"
}

// New makes the tunnel resource of one side of link name. The spec must
// carry the certificate the controller issued.
func New(name string, s *spec.Tunnel) (*Tunnel, error) {
	if s.Cert == "" || s.Key == "" || s.CA == "" {
		return nil, fmt.Errorf("tunnel %s: no certificate in the desired state: the controller issues it from the environment's tunnel CA (tend tunnel ca init)", name)
	}
	c, err := Config(name, s)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(s.Cert))
	if blk == nil {
		return nil, fmt.Errorf("tunnel %s: the certificate is not PEM", name)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: certificate: %w", name, err)
	}
	t := &Tunnel{name: name, conf: c, serial: cert.SerialNumber.Text(16)}
	js, _ := json.MarshalIndent(c, "", "  ")
	confPath, _, _ := Paths(name)
	root := func(mode string) *spec.File { return &spec.File{Mode: mode, Owner: "root", Group: "root"} }
	for _, d := range []string{filepath.Dir(scheduled.Binary), "/etc/tend", ConfigDir, "/var/lib/tend", HealthDir} {
		r, err := file.NewDirectory(d, &spec.Directory{Mode: "0755", Owner: "root", Group: "root"})
		if err != nil {
			return nil, err
		}
		t.dirs = append(t.dirs, r)
	}
	fc := root("0644")
	fc.Content = string(js) + "\n"
	if t.confFile, err = file.NewFile(confPath, fc); err != nil {
		return nil, err
	}
	cc := root("0600")
	cc.Content = s.CA + s.Cert + s.Key
	if s.StunnelSide {
		// stunnel's order: its cert option wants the certificate first
		// (then its chain, and the key it reads from the same file), and
		// its CAfile trusts the CA in it.
		cc.Content = s.Cert + s.CA + s.Key
	}
	if t.credsFile, err = file.NewFile(c.Credentials, cc); err != nil {
		return nil, err
	}
	uc := root("0644")
	uc.Content = unitText(name, s.Side, confPath)
	if t.unit, err = file.NewFile(filepath.Join(timer.UnitDir, Unit(name)), uc); err != nil {
		return nil, err
	}
	return t, nil
}

type part struct {
	name   string
	r      resource.Resource
	secret bool
}

func (t *Tunnel) parts() []part {
	var ps []part
	for _, d := range t.dirs {
		ps = append(ps, part{"directory", d, false})
	}
	if t.conf.Stunnel {
		return append(ps, part{"config", t.confFile, false}, part{"credentials", t.credsFile, true})
	}
	return append(ps, part{"binary", scheduled.SelfBinary(), false}, part{"config", t.confFile, false},
		part{"credentials", t.credsFile, true}, part{"unit", t.unit, false})
}

// daemonLeft reports whether tend's own daemon of the link is installed:
// a side that stunnel4 runs now removes it.
func (t *Tunnel) daemonLeft() bool {
	_, err := os.Lstat(filepath.Join(timer.UnitDir, Unit(t.name)))
	return err == nil
}

// state asks systemd whether the link's unit is enabled and active.
func state(ctx context.Context, unit string) (enabled, active bool) {
	ask := func(verb string) string {
		out, _ := exec.CommandContext(ctx, "systemctl", verb, unit).Output()
		return string(bytes.TrimSpace(out))
	}
	return ask("is-enabled") == "enabled", ask("is-active") == "active"
}

// running returns the serial of the certificate the daemon serves and
// the peers it accepts, as it recorded them; "" when it recorded nothing.
func (t *Tunnel) running() (serial, accept string) {
	h, err := tunnel.ReadHealth(t.conf.Status)
	if err != nil {
		return "", ""
	}
	return h.CertSerial, strings.Join(h.Accept, " ")
}

// live reports whether the daemon serves the desired certificate and
// accepts the desired peers.
func (t *Tunnel) live() bool {
	serial, accept := t.running()
	return serial == t.serial && accept == strings.Join(t.conf.Accept, " ")
}

// Check implements resource.Resource.
func (t *Tunnel) Check(ctx context.Context) (*resource.Change, error) {
	var ps []scheduled.Part
	for _, p := range t.parts() {
		ps = append(ps, scheduled.NewPart(p.name, p.r, p.secret))
	}
	c, err := scheduled.Check(ctx, ps)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = &resource.Change{Action: resource.Update}
	}
	if t.conf.Stunnel {
		if t.daemonLeft() {
			c.Add("tend daemon", Unit(t.name), "(removed: stunnel4 runs this side)")
		}
		if len(c.Fields) == 0 {
			return nil, nil
		}
		return c, nil
	}
	enabled, active := state(ctx, Unit(t.name))
	c.Add("enabled", fmt.Sprint(enabled), "true")
	c.Add("active", fmt.Sprint(active), "true")
	if active {
		serial, accept := t.running()
		c.Add("serving certificate", serial, t.serial)
		c.Add("accepting", accept, strings.Join(t.conf.Accept, " "))
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Apply implements resource.Resource.
func (t *Tunnel) Apply(ctx context.Context, _ *resource.Change) error {
	confPath, _, _ := Paths(t.name)
	old, _ := tunnel.LoadConfig(confPath) // nil when there is none yet
	changed := map[string]bool{}
	for _, p := range t.parts() {
		c, err := p.r.Check(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if c == nil {
			continue
		}
		if err := p.r.Apply(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		changed[p.name] = true
	}
	if t.conf.Stunnel {
		return t.applyStunnel(ctx, changed["credentials"])
	}
	unit := Unit(t.name)
	if changed["unit"] {
		if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	}
	enabled, active := state(ctx, unit)
	if !enabled {
		if _, err := resource.Command(ctx, "systemctl", "enable", unit); err != nil {
			return err
		}
	}
	switch {
	case !active || changed["unit"] || changed["config"] && (old == nil || !tunnel.ReloadOnly(old, t.conf)):
		// Type=notify: restart returns once the daemon listens.
		if _, err := resource.Command(ctx, "systemctl", "restart", unit); err != nil {
			return fmt.Errorf("%w (journalctl -u %s says why)", err, unit)
		}
	case changed["credentials"] || changed["config"] || !t.live():
		// A new certificate, or other peers (a client host added or
		// removed): a reload keeps the link's open connections.
		if _, err := resource.Command(ctx, "systemctl", "reload", unit); err != nil {
			return err
		}
	}
	return t.confirm(ctx)
}

// applyStunnel finishes a side that stunnel4 runs: tend's own daemon of
// the link goes, and a running stunnel@NAME is told (SIGHUP: it reads its
// configuration and certificates again, open connections stay) when its
// credentials changed.
func (t *Tunnel) applyStunnel(ctx context.Context, renewed bool) error {
	if t.daemonLeft() {
		unit := Unit(t.name)
		if _, err := resource.Command(ctx, "systemctl", "disable", "--now", unit); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(timer.UnitDir, unit)); err != nil {
			return err
		}
		if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
		os.Remove(t.conf.Status)
	}
	su := tunnel.StunnelUnit(t.name)
	if _, active := state(ctx, su); renewed && active {
		if _, err := resource.Command(ctx, "systemctl", "kill", "--signal=HUP", su); err != nil {
			return err
		}
	}
	return nil
}

// confirm waits until the daemon records that it serves the desired
// certificate: a reload that failed must not pass for a renewal.
func (t *Tunnel) confirm(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if t.live() {
			return nil
		}
		if time.Now().After(deadline) {
			h, err := tunnel.ReadHealth(t.conf.Status)
			if err != nil {
				return fmt.Errorf("the daemon recorded no health (%v): see journalctl -u %s", err, Unit(t.name))
			}
			return fmt.Errorf("the daemon serves certificate %s, not %s (last error: %s): see journalctl -u %s", h.CertSerial, t.serial, h.LastError, Unit(t.name))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Removal removes one side of a link: its unit (stopped and disabled),
// configuration, credentials and health record. Everything it removes is
// tend's by its name, so it goes whoever made it.
type Removal struct{ Name string }

func (r *Removal) paths() []string {
	conf, creds, health := Paths(r.Name)
	return []string{filepath.Join(timer.UnitDir, Unit(r.Name)), conf, creds, health}
}

// CheckRemove implements resource.Remover.
func (r *Removal) CheckRemove(ctx context.Context, _ resource.Removal) (*resource.Change, error) {
	c := &resource.Change{Action: resource.Delete}
	if _, active := state(ctx, Unit(r.Name)); active {
		c.Add("active", "true", "false")
	}
	for _, p := range r.paths() {
		if _, err := os.Lstat(p); err == nil {
			c.Add(filepath.Base(p), p, "")
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	return c, nil
}

// Remove implements resource.Remover.
func (r *Removal) Remove(ctx context.Context, _ *resource.Change, _ resource.Removal) error {
	unit := Unit(r.Name)
	paths := r.paths()
	if _, err := os.Lstat(paths[0]); err == nil {
		if _, err := resource.Command(ctx, "systemctl", "disable", "--now", unit); err != nil {
			return err
		}
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if _, err := resource.Command(ctx, "systemctl", "daemon-reload"); err != nil {
		return err
	}
	_, _ = resource.Command(ctx, "systemctl", "reset-failed", unit)
	return nil
}
