package cli

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"syscall"

	"tend/internal/tunnel"
)

// agentTunnelCmd runs one side of one link: its unit runs this.
func agentTunnelCmd() *command {
	var conf string
	return &command{
		name:    "tunnel",
		args:    "--config FILE",
		summary: "run one side of a mutual-TLS tunnel (its unit runs this; SIGHUP reloads the certificate)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&conf, "config", "", "the link's configuration `FILE` (/etc/tend/tunnel/NAME.json)")
		},
		run: func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0, 0, ""); err != nil {
				return err
			}
			c, err := tunnel.LoadConfig(conf)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			reload := make(chan struct{})
			go func() {
				for range hup {
					reload <- struct{}{}
				}
			}()
			return tunnel.Serve(ctx, c, reload, func() { notify("READY=1") }, s.logf)
		},
	}
}

// notify tells systemd (Type=notify) how the service is, when it runs
// under systemd.
func notify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
