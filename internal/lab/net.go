package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tend/internal/hint"
)

// ip runs the ip command and returns its error with its message.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	return nil
}

// linkExists reports whether a network interface of that name exists on the machine.
func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// netnsExists reports whether a named network namespace exists.
func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// names of what a lab creates. Interface names are at most 15 bytes.
func bridgeName(lab string) string { return "tlb-" + lab }
func netnsName(lab, host string) string {
	return "tend-" + lab + "-" + host
}
func vethName(lab, host string) string {
	sum := sha256.Sum256([]byte(lab + "/" + host))
	return "tlv" + hex.EncodeToString(sum[:])[:10]
}

// allocIndex picks a free lab index: not used by another lab's state, and
// not overlapping any route the machine already has.
func allocIndex(c Config) (int, error) {
	used := map[int]bool{}
	entries, _ := os.ReadDir(c.StateDir)
	for _, e := range entries {
		if s, err := Load(c, e.Name()); err == nil {
			used[s.Index] = true
		}
	}
	routes, err := routes()
	if err != nil {
		return 0, err
	}
	for i := 1; i < 255; i++ {
		if used[i] {
			continue
		}
		_, subnet, _ := net.ParseCIDR(fmt.Sprintf("%s%d.0/24", subnetPrefix, i))
		clash := false
		for _, r := range routes {
			if r.Contains(subnet.IP) || subnet.Contains(r.IP) {
				clash = true
			}
		}
		if !clash {
			return i, nil
		}
	}
	return 0, hint.New("no free lab subnet in 10.147.0.0/16", "take some labs down: tend lab down --lab NAME")
}

// routes lists the machine's IPv4 routes except default routes.
func routes() ([]*net.IPNet, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	defer f.Close()
	var out []*net.IPNet
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		ipb, maskb := make([]byte, 4), make([]byte, 4)
		binary.LittleEndian.PutUint32(ipb, uint32(dst))
		binary.LittleEndian.PutUint32(maskb, uint32(mask))
		out = append(out, &net.IPNet{IP: net.IP(ipb), Mask: net.IPMask(maskb)})
	}
	return out, sc.Err()
}

// ensureBridge creates the lab's bridge with the machine's lab address.
// The state must already record it, so a crash leaves it to Down.
func ensureBridge(ctx context.Context, s *State) error {
	if !linkExists(s.Bridge) {
		if err := ip(ctx, "link", "add", s.Bridge, "type", "bridge"); err != nil {
			return err
		}
	}
	addr := s.Gateway() + "/24"
	out, _ := exec.CommandContext(ctx, "ip", "-o", "-4", "addr", "show", "dev", s.Bridge).Output()
	if !strings.Contains(string(out), " "+addr+" ") {
		if err := ip(ctx, "addr", "add", addr, "dev", s.Bridge); err != nil {
			return err
		}
	}
	return ip(ctx, "link", "set", s.Bridge, "up")
}

// wireHost creates the host's network namespace and its link to the bridge.
func wireHost(ctx context.Context, s *State, h *Host) error {
	tmp := "tlt" + h.Veth[3:]
	steps := [][]string{
		{"netns", "add", h.Netns},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", tmp},
		{"link", "set", tmp, "netns", h.Netns},
		{"-n", h.Netns, "link", "set", tmp, "name", "host0"},
		{"-n", h.Netns, "addr", "add", h.Addr + "/24", "dev", "host0"},
		{"-n", h.Netns, "link", "set", "host0", "up"},
		{"-n", h.Netns, "link", "set", "lo", "up"},
		{"link", "set", h.Veth, "master", s.Bridge, "up"},
	}
	for _, st := range steps {
		if err := ip(ctx, st...); err != nil {
			return fmt.Errorf("host %s: network: %w", h.Name, err)
		}
	}
	return nil
}

// unwireHost removes the host's namespace (which takes its link with it).
func unwireHost(ctx context.Context, h *Host) error {
	var errs []error
	if netnsExists(h.Netns) {
		if err := ip(ctx, "netns", "del", h.Netns); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the namespace deletes its link pair, but not at once.
	for i := 0; linkExists(h.Veth) && i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if linkExists(h.Veth) {
		if err := ip(ctx, "link", "del", h.Veth); err != nil && linkExists(h.Veth) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
