// Package ssh connects to hosts over SSH with a pinned host key and runs
// commands on them. It is the transport tend uses to reach every host: one
// connection per host, many sessions over it.
package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"tend/internal/hint"
)

// Config says how to reach a host.
type Config struct {
	Host    string        // address or name
	Port    int           // default 22
	User    string        // default root
	Signer  ssh.Signer    // the client's key
	HostKey ssh.PublicKey // the pinned host key; required
	Timeout time.Duration // for connecting and the handshake; default 10s
}

// Client is a connection to one host. It is safe for concurrent use.
type Client struct {
	addr string
	c    *ssh.Client
}

// HostKeyError says that a host presented a key other than the pinned one.
type HostKeyError struct {
	Addr      string
	Want, Got ssh.PublicKey
}

func (e *HostKeyError) Error() string {
	return fmt.Sprintf("%s: host key mismatch: pinned %s %s, host presented %s %s", e.Addr,
		e.Want.Type(), ssh.FingerprintSHA256(e.Want), e.Got.Type(), ssh.FingerprintSHA256(e.Got))
}

// Dial connects to the host and checks its key against the pinned one.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.HostKey == nil {
		return nil, hint.New(fmt.Sprintf("%s: no pinned host key", cfg.Host), "record it with: tend host trust")
	}
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	var keyErr error
	conf := &ssh.ClientConfig{
		User: cfg.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !bytes.Equal(key.Marshal(), cfg.HostKey.Marshal()) {
				keyErr = &HostKeyError{Addr: addr, Want: cfg.HostKey, Got: key}
				return keyErr
			}
			return nil
		},
		HostKeyAlgorithms: []string{cfg.HostKey.Type()},
		Timeout:           cfg.Timeout,
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, conf)
	if err != nil {
		conn.Close()
		if keyErr != nil {
			return nil, hint.Wrap(keyErr, "if the host was rebuilt, check the new key out of band, then record it again")
		}
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{addr: addr, c: ssh.NewClient(sc, chans, reqs)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// ExitError is a remote command that ran and exited non-zero.
type ExitError struct {
	Cmd    string
	Status int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%q exited with status %d", e.Cmd, e.Status)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Run runs cmd on the host with stdin, stdout and stderr connected. A
// non-zero exit is an *ExitError; cancelling ctx closes the session.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	s, err := c.c.NewSession()
	if err != nil {
		return fmt.Errorf("ssh %s: new session: %w", c.addr, err)
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-done:
		}
	}()
	err = s.Run(cmd)
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Cmd: cmd, Status: ee.ExitStatus()}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("ssh %s: %q: %w", c.addr, cmd, err)
	}
	return nil
}

// Output runs cmd and returns its standard output. On a non-zero exit the
// *ExitError carries the command's standard error.
func (c *Client) Output(ctx context.Context, cmd string) (string, error) {
	var out, errb bytes.Buffer
	err := c.Run(ctx, cmd, nil, &out, &errb)
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = string(bytes.TrimSpace(errb.Bytes()))
	}
	return out.String(), err
}

// errGotKey stops a handshake once the host key is known.
var errGotKey = errors.New("host key received")

// FetchHostKey connects to host:port and returns the host key it presents,
// without authenticating. It is for recording a key (tend host trust): the
// caller must show its fingerprint to be checked out of band.
func FetchHostKey(ctx context.Context, host string, port int, timeout time.Duration) (ssh.PublicKey, error) {
	if port == 0 {
		port = 22
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var got ssh.PublicKey
	conf := &ssh.ClientConfig{
		User: "root",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return errGotKey
		},
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSASHA256},
		Timeout:           timeout,
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	_, _, _, err = ssh.NewClientConn(conn, addr, conf)
	if got != nil {
		return got, nil
	}
	return nil, fmt.Errorf("ssh %s: no host key: %w", addr, err)
}
