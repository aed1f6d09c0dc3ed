package plan

import (
	"slices"
	"strconv"
	"strings"
)

// probe is the command plan and apply run first on a host's connection:
// its machine, whether this agent is there, and its facts (spec.Facts),
// one key=value a line. Facts are asked only when the spec uses them.
func probe(agent string, facts bool) string {
	p := `echo "machine=$(uname -m)"; if test -x ` + agent + `; then echo agent=present; fi`
	if !facts {
		return p
	}
	return p + `; if [ -r /etc/os-release ]; then (. /etc/os-release; echo "os_id=$ID"; echo "os_version_id=$VERSION_ID"; echo "os_codename=$VERSION_CODENAME"); fi; ` +
		`echo "cpus=$(nproc 2>/dev/null)"; awk '/^MemTotal:/ {print "memory_kb=" $2}' /proc/meminfo 2>/dev/null; ` +
		`ip -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print "address=" a[1]}'; true`
}

type probed struct {
	machine string
	present bool
	facts   map[string]any
}

// parseProbe reads what probe printed.
func parseProbe(out string) probed {
	p := probed{}
	os := map[string]any{"id": "", "version_id": "", "codename": ""}
	facts := map[string]any{"os": os, "cpus": 0, "memory_mb": 0}
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "machine":
			p.machine = v
		case "agent":
			p.present = v == "present"
		case "os_id":
			os["id"] = v
		case "os_version_id":
			os["version_id"] = v
		case "os_codename":
			os["codename"] = v
		case "cpus":
			facts["cpus"], _ = strconv.Atoi(v)
		case "memory_kb":
			kb, _ := strconv.Atoi(v)
			facts["memory_mb"] = kb / 1024
		case "address":
			if v != "" && !slices.Contains(addrs, v) {
				addrs = append(addrs, v)
			}
		}
	}
	slices.Sort(addrs)
	list := make([]any, len(addrs))
	for i, a := range addrs {
		list[i] = a
	}
	facts["addresses"] = list
	facts["arch"] = goarch(p.machine)
	p.facts = facts
	return p
}
