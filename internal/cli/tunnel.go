package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"

	"tend/internal/hint"
	"tend/internal/secret"
	"tend/internal/tunnel"
)

func tunnelCmd() *command {
	return &command{
		name:    "tunnel",
		summary: "mutual-TLS tunnels: the environment's certificate authority, certificates for stunnel peers",
		help: `Tunnels are declared in the spec (kind tunnel, docs/tunnels.md); tend apply
runs them. Their certificates come from the environment's certificate
authority, whose key is the secret ` + tunnel.SecretName + `: made once by
tend tunnel ca init, kept in the encrypted secrets, used only on the
controller.`,
		subs: []*command{{
			name:    "ca",
			summary: "the tunnels' certificate authority",
			subs:    []*command{tunnelCAInitCmd()},
		}, tunnelIssueCmd()},
	}
}

func tunnelCAInitCmd() *command {
	var repo string
	var recipients stringList
	return &command{
		name:    "init",
		args:    "ENV",
		summary: "create the environment's tunnel CA: a new random key in its secrets",
		help: `Generates a random key and stores it as the secret ` + tunnel.SecretName + ` of ENV
(encrypted to the environment's recipients, like tend secret set). It
refuses to replace an existing one: a new CA makes every certificate of
the environment's tunnels change at the next apply.`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.Var(&recipients, "recipient", "public `KEY` (age1...[=LABEL]) of a new secrets file's recipient; repeatable")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "an environment"); err != nil {
				return err
			}
			path, err := secretPath(repo, args[0])
			if err != nil {
				return err
			}
			f, err := secret.LoadOrNew(path, recipients)
			if err != nil {
				return err
			}
			if f.Has(tunnel.SecretName) {
				return hint.Wrap(fmt.Errorf("%s: %s already exists", f.Path, tunnel.SecretName),
					"to replace the CA on purpose: tend secret rm, then init again; every tunnel's certificates change at the next apply")
			}
			ids, err := secret.OptionalIdentities(s.getenv)
			if err != nil {
				return err
			}
			seed := make([]byte, 32)
			if _, err := rand.Read(seed); err != nil {
				return err
			}
			check, err := f.Put(ids, map[string]secret.Value{tunnel.SecretName: secret.NewValue(hex.EncodeToString(seed))}, true)
			if err != nil {
				return err
			}
			s.logf("%s: added %s, the tunnel CA of %s (encrypted to %d recipients)", f.Path, tunnel.SecretName, args[0], len(f.Recipients))
			logVerification(s, f, check)
			return nil
		},
	}
}
