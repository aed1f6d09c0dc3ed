package cli

import (
	"context"

	"tend/internal/resource/cert"
)

// agentCertRenewCmd is what a certificate's renewal timer runs (through
// `tend agent job`, which records the outcome for tend status).
func agentCertRenewCmd() *command {
	return &command{
		name:    "cert-renew",
		args:    "NAME",
		summary: "renew a certificate when it is due, then reload its services (its timer runs this)",
		help: `Reads /etc/tend/certs/NAME/certificate.json (written by apply), and when the
installed certificate is within renew_before of its expiry, a placeholder,
or for other names, obtains a new one from the ACME directory, installs it
and reloads the services of reload:. Otherwise it changes nothing. See
docs/certificates.md.`,
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 1, 1, "the certificate's name"); err != nil {
				return err
			}
			c, err := cert.Load(args[0])
			if err != nil {
				return err
			}
			c.Log = s.stderr
			return c.Renew(ctx, func(m string) { s.printf("%s\n", m) })
		},
	}
}
