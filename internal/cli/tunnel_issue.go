package cli

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"time"

	"tend/internal/inventory"
	"tend/internal/plan"
	"tend/internal/spec"
	"tend/internal/tunnel"
)

// tunnelIssueCmd hands out the certificate of one side of a link, for a
// peer that is not tend's daemon (stunnel4, while a site migrates).
func tunnelIssueCmd() *command {
	var repo, out string
	return &command{
		name:    "issue",
		args:    "ENV LINK server|client [HOST] --out DIR",
		summary: "write the CA, certificate and key of one side of a link, for an stunnel4 peer",
		help: `Issues, from the environment's tunnel CA, the certificate of the server side
of LINK or of its client side on HOST, valid 14 days like tend's own (the
same one tend apply gives that side this week), and writes ca.pem,
cert.pem and key.pem (mode 0600) in DIR. Run it weekly for a peer tend
does not manage. The DNS name for stunnel's checkHost of the other side
is printed (docs/tunnels.md).`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
			fs.StringVar(&out, "out", "", "the `DIR` to write ca.pem, cert.pem and key.pem in")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 3, 4, "ENV LINK server|client [HOST]"); err != nil {
				return err
			}
			env, link, side, host := args[0], args[1], args[2], ""
			switch {
			case side == tunnel.Client && len(args) == 4:
				host = args[3]
			case side == tunnel.Server && len(args) == 3:
			default:
				return &usageError{msg: "give server, or client and the client's HOST"}
			}
			if out == "" {
				return &usageError{msg: "--out DIR is required"}
			}
			r, err := spec.Load(repo)
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			e, err := inventory.Environment(r, env)
			if err != nil {
				return exitCodeOf(err)
			}
			secrets, err := plan.Secrets(r.Dir, e, s.getenv)
			if err != nil {
				return err
			}
			ca, err := plan.TunnelCA(r.Dir, e, secrets, s.getenv)
			if err != nil {
				return err
			}
			id := tunnel.Identity(env, link, side, host)
			is, err := ca.Issue(id, time.Now())
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			for name, f := range map[string]struct {
				text string
				mode os.FileMode
			}{"ca.pem": {ca.PEM, 0o644}, "cert.pem": {is.Cert, 0o644}, "key.pem": {is.Key, 0o600}} {
				if err := os.WriteFile(filepath.Join(out, name), []byte(f.text), f.mode); err != nil {
					return err
				}
				if err := os.Chmod(filepath.Join(out, name), f.mode); err != nil {
					return err
				}
			}
			s.logf("%s: certificate of %s, valid until %s", out, id, is.NotAfter.Format(time.RFC3339))
			if side == tunnel.Server {
				// One line per client host: HOST.client.LINK.ENV.tend.invalid.
				s.printf("checkHost = HOST%s\n", tunnel.DNSName(tunnel.Identity(env, link, tunnel.Client, "x"))[1:])
			} else {
				s.printf("checkHost = %s\n", tunnel.DNSName(tunnel.Identity(env, link, tunnel.Server, "")))
			}
			return nil
		},
	}
}
