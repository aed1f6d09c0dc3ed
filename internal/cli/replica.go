package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"tend/internal/hint"
	"tend/internal/replica"
)

// This file holds what the replica commands share; each subcommand has its
// own file, replica_<name>.go.

// Environment prefixes of pull-store's credentials: the source's AWS_*
// variables are read as TEND_FROM_AWS_*, the replica's as TEND_TO_AWS_*, so
// that one environment (an envdir on the storage host) holds both without
// mixing them up.
const (
	replicaFromEnv = "TEND_FROM_"
	replicaToEnv   = "TEND_TO_"
)

func replicaCmd() *command {
	return &command{
		name:    "replica",
		summary: "pull replicas of production data onto a storage host",
		help: `Runs on the storage host, which pulls: production holds nothing that can
touch the replicas. Every pull records its outcome in a status file, and
'tend replica status' fails loudly when a replica is failing or late.
See docs/replica.md.`,
		subs: []*command{replicaPullStoreCmd(), replicaPullDirCmd(), replicaStatusCmd()},
	}
}

func printReport(s *session, rep replica.Report, asJSON bool, summary string) error {
	if asJSON {
		return s.printJSON(rep)
	}
	if summary != "" {
		s.printf("%s\n", summary)
	}
	for _, w := range rep.Warnings {
		s.logf("tend: warning: %s", w)
	}
	return nil
}

// prefixed reads variable NAME as PREFIX+NAME.
func prefixed(getenv func(string) string, prefix string) func(string) string {
	return func(name string) string { return getenv(prefix + name) }
}

func replicaCredHint(err error, prefix string) error {
	if strings.Contains(err.Error(), "no credentials") {
		return hint.Wrap(err, fmt.Sprintf("set %sAWS_ACCESS_KEY_ID and %sAWS_SECRET_ACCESS_KEY", prefix, prefix))
	}
	return err
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
