package replica

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"tend/internal/hint"
	"tend/internal/retention"
)

// DirOptions says what PullDir copies, from where, and how it keeps copies.
type DirOptions struct {
	// User and Host are the production login (User default "root").
	User, Host string
	// Port is the SSH port (default 22).
	Port int
	// Dir is the absolute directory on production. The key must be
	// restricted to it with AuthorizedKeyOptions(Dir).
	Dir string
	// To is the local directory that holds the dated copies.
	To string
	// SSHKey is the private key file; KnownHosts the file that pins the
	// production host key (default: ssh's own, ~/.ssh/known_hosts). Unknown
	// host keys are refused, never accepted on first use.
	SSHKey, KnownHosts string
	// Keep is the retention policy of the dated copies; an empty policy
	// keeps them all. The newest copy is always kept.
	Keep retention.Policy
	// StatusFile, if not "", receives the Status after the pull.
	StatusFile string
	// Now is the clock (default time.Now); it names the copies.
	Now func() time.Time
	// RsyncPath and SSHPath are the local binaries (default "rsync", "ssh").
	RsyncPath, SSHPath string
	// Timeout bounds the SSH connection setup and silences (default 30s).
	Timeout time.Duration
}

// copyLayout: To/2006-01-02T150405Z is one complete copy; To/.partial is the
// copy being made; To/latest is a symlink to the newest complete copy.
const (
	copyFormat = "2006-01-02T150405Z"
	partialDir = ".partial"
	latestLink = "latest"
)

var (
	validHost = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$`)
	validUser = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*$`)
)

var copyName = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{6}Z$`)

// safeDir is what AuthorizedKeyOptions and PullDir accept as a production
// directory: an absolute path that needs no quoting in authorized_keys or
// in rsync's remote shell arguments.
var safeDir = regexp.MustCompile(`^(/[A-Za-z0-9._+@:=-]+)+/?$`)

// ValidDir checks a production directory for PullDir and AuthorizedKeyOptions.
func ValidDir(dir string) error {
	if !safeDir.MatchString(dir) || strings.Contains(dir, "/../") || strings.HasSuffix(dir, "/..") || strings.Contains(dir, "/./") {
		return hint.Wrap(fmt.Errorf("production directory %q: want an absolute path of letters, digits and ._+@:=-", dir),
			"choose a directory without spaces or shell characters, e.g. /srv/data")
	}
	return nil
}

// AuthorizedKeyOptions returns the options to put before the storage host's
// key in production's authorized_keys: the key can then only run rsync as a
// read-only server below dir (rrsync from Debian's rsync package; -absolute
// lets tend ask for dir by its real path, so a key installed without this
// restriction still copies dir and not the whole file system), with no
// shell, forwarding or terminal. rrsync's -absolute needs rsync 3.4 or later
// on production; an older rrsync refuses the option and the pull fails. dir
// must pass ValidDir.
func AuthorizedKeyOptions(dir string) string {
	return fmt.Sprintf(`command="/usr/bin/rrsync -ro -absolute %s",restrict`, strings.TrimSuffix(dir, "/"))
}

func (o *DirOptions) defaults() error {
	if o.User == "" {
		o.User = "root"
	}
	if o.Port == 0 {
		o.Port = 22
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RsyncPath == "" {
		o.RsyncPath = "rsync"
	}
	if o.SSHPath == "" {
		o.SSHPath = "ssh"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	switch {
	case !validHost.MatchString(o.Host):
		return fmt.Errorf("pull-dir: invalid host %q: want a name, an IPv4 address or a bracketed IPv6 address", o.Host)
	case !validUser.MatchString(o.User):
		return fmt.Errorf("pull-dir: invalid user %q", o.User)
	case o.SSHKey == "":
		return hint.New("pull-dir: no SSH key", "give the storage host's private key, whose public half production accepts with AuthorizedKeyOptions")
	case !filepath.IsAbs(o.To):
		return fmt.Errorf("pull-dir: the replica directory %q is not absolute", o.To)
	}
	if err := ValidDir(o.Dir); err != nil {
		return err
	}
	return o.Keep.Validate()
}

func (o *DirOptions) source() string {
	return fmt.Sprintf("%s@%s:%s", o.User, o.Host, o.Dir)
}

// PullDir copies Dir from production into a new dated copy under To,
// hard-linking files unchanged since the previous copy (rsync --link-dest),
// so that each copy is complete but costs only what changed. The copy is
// made in To/.partial and renamed when rsync succeeded, so a dated copy is
// always complete; To/latest then points to it, and the retention policy
// removes older copies. Owners are kept by number (run as root to keep
// them). Any failure gives a non-nil error and is recorded in the status.
func PullDir(ctx context.Context, opts DirOptions) (Report, error) {
	if err := opts.defaults(); err != nil {
		return Report{}, err
	}
	start := opts.Now()
	rep, err := pullDir(ctx, opts, start)
	if err != nil {
		err = fmt.Errorf("pull %s to %s: %w", opts.source(), opts.To, err)
	}
	st := Status{Kind: "dir", Source: opts.source(), Target: opts.To}
	if serr := record(opts.StatusFile, st, start, rep, err); serr != nil {
		return rep, errors.Join(err, serr)
	}
	return rep, err
}

func pullDir(ctx context.Context, o DirOptions, start time.Time) (Report, error) {
	var rep Report
	if err := os.MkdirAll(o.To, 0o700); err != nil {
		return rep, err
	}
	copies, err := listCopies(o.To)
	if err != nil {
		return rep, err
	}
	name := start.UTC().Format(copyFormat)
	if len(copies) > 0 && copies[len(copies)-1] >= name {
		return rep, fmt.Errorf("copy %s already exists or is older than the newest copy %s: is the clock right?", name, copies[len(copies)-1])
	}
	partial := filepath.Join(o.To, partialDir)
	if err := os.RemoveAll(partial); err != nil {
		return rep, fmt.Errorf("remove the unfinished copy: %w", err)
	}
	args := []string{
		"-aH", "--numeric-ids", "--stats", "--no-human-readable",
		"-e", o.sshCommand(),
	}
	if len(copies) > 0 {
		args = append(args, "--link-dest="+filepath.Join(o.To, copies[len(copies)-1]))
	}
	args = append(args, "--", o.source()+"/", partial+"/")
	cmd := exec.CommandContext(ctx, o.RsyncPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	runErr := cmd.Run()
	parseStats(stdout.Bytes(), &rep)
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() == 24 {
			// Files vanished at the source during the transfer: normal
			// for live data, the copy is otherwise complete.
			rep.Warnings = append(rep.Warnings, "some files vanished at the source during the copy")
		} else {
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 2000 {
				msg = msg[:2000] + "..."
			}
			rep.Errors = append(rep.Errors, msg)
			return rep, hint.Wrap(fmt.Errorf("rsync: %v: %s", runErr, msg), rsyncHint(ee))
		}
	}
	final := filepath.Join(o.To, name)
	if err := os.Rename(partial, final); err != nil {
		return rep, fmt.Errorf("finish the copy: %w", err)
	}
	rep.Copy = name
	if err := setLatest(o.To, name); err != nil {
		return rep, err
	}
	deleted, err := prune(o.To, append(copies, name), o.Keep)
	rep.Deleted = deleted
	return rep, err
}

func rsyncHint(ee *exec.ExitError) string {
	if ee == nil {
		return "is rsync installed on the storage host?"
	}
	switch ee.ExitCode() {
	case 255:
		return "ssh failed: check that production runs sshd, that its host key is in the known hosts file, and that it accepts this key"
	case 23:
		return "some files could not be read: check the path and the permissions on production"
	case 12, 2, 1:
		return "production refused the transfer: check its authorized_keys options (tend replica pull-dir --help) and that rsync is installed there"
	}
	return ""
}

// sshCommand is rsync's remote shell: batch mode, this key only, pinned
// host keys. rsync splits it on spaces and honours single quotes.
func (o *DirOptions) sshCommand() string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	secs := int(o.Timeout / time.Second)
	parts := []string{q(o.SSHPath), "-i", q(o.SSHKey), "-p", strconv.Itoa(o.Port),
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(secs), "-o", "ServerAliveInterval=" + strconv.Itoa(max(1, secs/3)),
		"-o", "ServerAliveCountMax=3"}
	if o.KnownHosts != "" {
		parts = append(parts, "-o", q("UserKnownHostsFile="+o.KnownHosts), "-o", "GlobalKnownHostsFile=/dev/null")
	}
	return strings.Join(parts, " ")
}

// parseStats reads rsync --stats --no-human-readable (plain numbers): files
// transferred, their size, and the total number of regular files.
func parseStats(out []byte, rep *Report) {
	var total int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Number of regular files transferred":
			rep.Copied = int(n)
		case "Total transferred file size":
			rep.CopiedBytes = n
		case "Number of files":
			// "Number of files: 12 (reg: 10, dir: 2)"
			if i := strings.Index(v, "reg: "); i >= 0 {
				g := strings.FieldsFunc(v[i+5:], func(r rune) bool { return r == ',' || r == ')' || r == ' ' })
				if len(g) > 0 {
					if m, err := strconv.Atoi(g[0]); err == nil {
						total = m
					}
				}
			}
		}
	}
	if total >= rep.Copied {
		rep.Skipped = total - rep.Copied
	}
}

// listCopies returns the names of the complete dated copies, oldest first.
func listCopies(to string) ([]string, error) {
	ents, err := os.ReadDir(to)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && copyName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func setLatest(to, name string) error {
	tmp := filepath.Join(to, ".latest.tmp")
	os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(to, latestLink))
}

// prune removes the dated copies the policy does not keep; the newest is
// always kept. Copies share unchanged files by hard links, so removing one
// frees only what no other copy holds.
func prune(to string, copies []string, p retention.Policy) ([]string, error) {
	if p.Empty() || len(copies) < 2 {
		return nil, nil
	}
	items := make([]retention.Item, len(copies))
	for i, c := range copies {
		t, err := time.Parse(copyFormat, c)
		if err != nil {
			return nil, err
		}
		items[i] = retention.Item{ID: c, Time: t.Local()}
	}
	var deleted []string
	var errs []error
	for i, d := range p.Apply(items) {
		if d.Keep || i == 0 {
			continue
		}
		if err := os.RemoveAll(filepath.Join(to, d.Item.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old copy: %w", err))
			continue
		}
		deleted = append(deleted, d.Item.ID)
	}
	return deleted, errors.Join(errs...)
}

// Copies lists the complete dated copies in a PullDir replica directory,
// oldest first.
func Copies(to string) ([]string, error) { return listCopies(to) }
