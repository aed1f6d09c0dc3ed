package site

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"tend/internal/resource"
)

// Nginx is the nginx of the host, as tend changes it: the folder of the
// site files, the generation server that says which configuration runs,
// and the log a failed reload writes to. Tests point it elsewhere.
type Nginx struct {
	SitesDir string // tend-NAME.conf files; default /etc/nginx/sites-enabled
	GenFile  string // default /etc/nginx/conf.d/tend-generation.conf
	GenAddr  string // the generation server, on loopback; default 127.0.0.1:7391
	ErrorLog string // default /var/log/nginx/error.log
	// Wait is how long the new configuration has to become live after a
	// reload; default 10s.
	Wait time.Duration
}

// Default is the nginx of a Debian host.
var Default = Nginx{
	SitesDir: "/etc/nginx/sites-enabled",
	GenFile:  "/etc/nginx/conf.d/tend-generation.conf",
	GenAddr:  "127.0.0.1:7391",
	ErrorLog: "/var/log/nginx/error.log",
	Wait:     10 * time.Second,
}

// Path returns the file of site name.
func (n Nginx) Path(name string) string { return filepath.Join(n.SitesDir, "tend-"+name+".conf") }

// Installed reports whether nginx is on the host.
func Installed() bool {
	_, err := exec.LookPath("nginx")
	return err == nil
}

// generation returns the hash naming the set of tend's site files as they
// are on disk now.
func (n Nginx) generation() (string, error) {
	paths, err := filepath.Glob(filepath.Join(n.SitesDir, "tend-*.conf"))
	if err != nil {
		return "", err
	}
	slices.Sort(paths)
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(p), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func (n Nginx) genConf(hash string) string {
	return fmt.Sprintf(`# Managed by tend: tells tend which configuration nginx runs (see docs/web.md).
server {
    listen %s;
    server_name tend-generation;
    access_log off;
    location = /tend-generation {
        default_type text/plain;
        return 200 "%s";
    }
    location / {
        return 404;
    }
}
`, n.GenAddr, hash)
}

// Live returns the generation nginx serves now, "" when it does not
// answer.
func (n Nginx) Live(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+n.GenAddr+"/tend-generation", nil)
	if err != nil {
		return ""
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != 200 {
		return ""
	}
	return string(b)
}

// InSync reports whether nginx runs the site files on disk.
func (n Nginx) InSync(ctx context.Context) (bool, error) {
	g, err := n.generation()
	if err != nil {
		return false, err
	}
	return n.Live(ctx) == g, nil
}

// saved is a file as it was before a change: its content, or absent.
type saved struct {
	path    string
	content []byte
	exists  bool
}

func save(path string) (saved, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return saved{path: path}, nil
	case err != nil:
		return saved{}, err
	}
	return saved{path: path, content: b, exists: true}, nil
}

func (s saved) restore() error {
	if !s.exists {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return resource.WriteFile(s.path, s.content, fileMeta)
}

var fileMeta = resource.Meta{Owner: "root", Group: "root", Mode: 0o644}

// Change writes (content non-nil) or removes (nil) the files, then makes
// nginx run them, safely: the whole configuration must pass nginx -t,
// and after the reload the generation server must answer with the new
// generation. Otherwise the previous files are put back (and nginx
// reloaded with them), and the error carries nginx's own message. nginx
// is started when it is not running.
func (n Nginx) Change(ctx context.Context, files map[string][]byte) error {
	if !Installed() {
		return errors.New("nginx is not installed: declare `package: nginx` before the site")
	}
	var before []saved
	for _, p := range append(slices.Sorted(mapsKeys(files)), n.GenFile) {
		s, err := save(p)
		if err != nil {
			return err
		}
		before = append(before, s)
	}
	restore := func() error {
		var errs []error
		for _, s := range before {
			errs = append(errs, s.restore())
		}
		return errors.Join(errs...)
	}
	for _, p := range slices.Sorted(mapsKeys(files)) {
		var err error
		if files[p] == nil {
			err = os.Remove(p)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = resource.WriteFile(p, files[p], fileMeta)
			}
		}
		if err != nil {
			return errors.Join(err, restore())
		}
	}
	gen, err := n.generation()
	if err == nil {
		err = os.MkdirAll(filepath.Dir(n.GenFile), 0o755)
	}
	if err == nil {
		err = resource.WriteFile(n.GenFile, []byte(n.genConf(gen)), fileMeta)
	}
	if err != nil {
		return errors.Join(err, restore())
	}
	if out, err := exec.CommandContext(ctx, "nginx", "-t").CombinedOutput(); err != nil {
		return errors.Join(fmt.Errorf("nginx -t refused the new configuration, which tend took back: %s", nginxMessage(string(out))), restore())
	}
	if err := n.reload(ctx, gen); err != nil {
		rerr := restore()
		if rerr == nil {
			if old, gerr := n.generation(); gerr == nil {
				_ = n.reload(ctx, old) // best effort: nginx still runs the old one
			}
		}
		return errors.Join(fmt.Errorf("%w; tend put the previous configuration back", err), rerr)
	}
	return nil
}

// reload makes nginx load its configuration (starting it when it is not
// running) and waits until it serves generation gen.
func (n Nginx) reload(ctx context.Context, gen string) error {
	mark := logSize(n.ErrorLog)
	old := workers()
	var cmd []string
	if exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", "nginx").Run() == nil {
		cmd = []string{"systemctl", "reload", "nginx"}
	} else {
		cmd = []string{"systemctl", "start", "nginx"}
	}
	if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
		msg := logSince(n.ErrorLog, mark)
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		return fmt.Errorf("%s: %s", strings.Join(cmd, " "), msg)
	}
	deadline := time.Now().Add(n.Wait)
	for {
		// Live once a new worker answers with the new generation, and
		// no worker of before still accepts connections (an old worker
		// closes its listening sockets as it starts shutting down).
		if n.Live(ctx) == gen && !accepting(old) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg := logSince(n.ErrorLog, mark)
	if msg == "" {
		msg = "no message in " + n.ErrorLog
	}
	return fmt.Errorf("nginx did not take the new configuration (it kept running the previous one): %s", msg)
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the errors nginx logged to path after offset.
func logSince(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < offset {
		offset = 0 // rotated
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "[emerg]") || strings.Contains(l, "[alert]") || strings.Contains(l, "[crit]") {
			out = append(out, l)
		}
	}
	return nginxMessage(strings.Join(out, "\n"))
}

var pidRE = regexp.MustCompile(`^(\[[a-z]+\]) [0-9]+#[0-9]+: `)

// nginxMessage keeps nginx's errors of an output, one line each.
func nginxMessage(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "test failed") || strings.HasSuffix(l, "syntax is ok") {
			continue
		}
		if i := strings.Index(l, "[emerg]"); i >= 0 {
			l = l[i:]
		}
		l = pidRE.ReplaceAllString(l, "$1 ")
		if !slices.Contains(keep, l) { // nginx retries a bind 5 times
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "; ")
}

// workerTitle is the process title of an nginx worker that accepts
// connections; one shutting down says "worker process is shutting down".
const workerTitle = "nginx: worker process"

// workers returns the nginx workers accepting connections, each as its
// pid and start time (against a pid used again).
func workers() [][2]string {
	ents, _ := os.ReadDir("/proc")
	var out [][2]string
	for _, e := range ents {
		if e.Name()[0] >= '0' && e.Name()[0] <= '9' && title(e.Name()) == workerTitle {
			out = append(out, [2]string{e.Name(), started(e.Name())})
		}
	}
	return out
}

// started returns the start time of process pid (field 22 of its stat).
func started(pid string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

func title(pid string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/cmdline")
	return strings.TrimRight(string(b), "\x00 ")
}

// accepting reports whether one of the workers pids still accepts
// connections.
func accepting(ws [][2]string) bool {
	for _, w := range ws {
		if title(w[0]) == workerTitle && started(w[0]) == w[1] {
			return true
		}
	}
	return false
}
