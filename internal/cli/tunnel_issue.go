package cli

import (
	"context"
	"flag"
	"time"

	"tend/internal/inventory"
	"tend/internal/plan"
	"tend/internal/spec"
	"tend/internal/tunnel"
)

// tunnelIssueCmd hands out the certificate of one side of a link, for a
// peer that is not tend's daemon (stunnel4, while a site migrates).
func tunnelIssueCmd() *command {
	var repo string
	return &command{
		name:    "issue",
		args:    "ENV LINK server|client [HOST]",
		summary: "print the CA, certificate and key of one side of a link, for an stunnel4 peer on a host tend does not manage",
		help: `Issues, from the environment's tunnel CA, the certificate of the server side
of LINK or of its client side on HOST, valid 14 days like tend's own (the
same one tend apply gives that side this week), and prints the
certificate, the CA certificate and the key as one PEM stream on standard
output (stunnel's cert and CAfile both name it), for a pipe to the host
(the key is written on no disk here):

  tend tunnel issue production mongo client web9 |
    ssh web9 'umask 077 && cat > /etc/stunnel/mongo.pem.new && mv /etc/stunnel/mongo.pem.new /etc/stunnel/mongo.pem && systemctl kill -s HUP stunnel@mongo'

Run it weekly for such a peer. For a host of the environment, declare it in
the link's stunnel list instead: apply then renews its file. The DNS name
for stunnel's checkHost of the other side goes to standard error
(docs/tunnels.md).`,
		flags: func(fs *flag.FlagSet) {
			repoFlag(fs, &repo)
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
			// One PEM stream, for a pipe: the key is never written on this
			// machine's disk. stunnel's order: its cert option wants the
			// certificate first, then its chain and key; CAfile trusts the CA
			// in the same file.
			s.printf("%s%s%s", is.Cert, ca.PEM, is.Key)
			s.logf("certificate of %s, valid until %s", id, is.NotAfter.Format(time.RFC3339))
			if side == tunnel.Server {
				// One line per client host: HOST.client.LINK.ENV.tend.invalid.
				s.logf("stunnel's checkHost for the clients: HOST%s", tunnel.DNSName(tunnel.Identity(env, link, tunnel.Client, "x"))[1:])
			} else {
				s.logf("stunnel's checkHost for the server: %s", tunnel.DNSName(tunnel.Identity(env, link, tunnel.Server, "")))
			}
			return nil
		},
	}
}
