package spec

// Facts are what a host says of itself, gathered by plan and apply in the
// probe they send on the host's SSH connection before its desired state
// (no extra connection), and seen by templates and conditions as .facts:
//
//	.facts.os.id, .facts.os.version_id, .facts.os.codename  (from /etc/os-release: debian, 12, bookworm)
//	.facts.arch       Go's name of the CPU architecture: amd64, arm64
//	.facts.cpus       the number of CPUs (nproc)
//	.facts.memory_mb  the memory in MiB (MemTotal)
//	.facts.addresses  the host's global addresses, sorted (IPv4 and IPv6, without prefix length)
//
// Where no host is asked (tend validate, tend docs, the first check of
// plan before connecting), templates see PlaceholderFacts: the same keys
// with empty values, so that a spec using facts is still checked.

// PlaceholderFacts returns facts with every key and an empty value.
func PlaceholderFacts() map[string]any {
	return map[string]any{
		"os":        map[string]any{"id": "", "version_id": "", "codename": ""},
		"arch":      "",
		"cpus":      0,
		"memory_mb": 0,
		"addresses": []any{},
	}
}
