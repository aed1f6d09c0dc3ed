package cert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tend/internal/spec"
	"tend/internal/wire"
)

// Warn is how close to its expiry a certificate makes status fail: its
// renewal has been failing (or not running) for a while.
const Warn = 14 * 24 * time.Hour

// All returns the status of every certificate configured on this host,
// checked at now.
func All(now time.Time) []wire.CertStatus {
	confs, _ := filepath.Glob(filepath.Join(Root, "*", ConfigFile))
	var out []wire.CertStatus
	for _, p := range confs {
		name := filepath.Base(filepath.Dir(p))
		st := wire.CertStatus{Name: name}
		var s spec.Certificate
		data, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(data, &s)
		}
		if err != nil {
			st.Problem = "unreadable configuration: " + err.Error()
			out = append(out, st)
			continue
		}
		st.Names = s.Names
		check(&st, filepath.Dir(p), s.Names, now)
		out = append(out, st)
	}
	return out
}

func check(st *wire.CertStatus, dir string, names []string, now time.Time) {
	in, err := readInstalled(dir)
	switch {
	case err != nil:
		st.Problem = err.Error()
		return
	case in == nil:
		st.Problem = "no certificate installed"
		return
	case in.problem != "":
		st.Problem = "unusable: " + in.problem
		return
	}
	st.Issuer = in.leaf.Issuer.CommonName
	st.Serial = in.leaf.SerialNumber.Text(16)
	st.NotAfter = in.leaf.NotAfter.UTC()
	left := in.leaf.NotAfter.Sub(now)
	switch {
	case in.placeholder:
		st.Problem = "not issued yet: a self-signed placeholder stands in (see the renewal job's error)"
	case !spec.SameNames(in.leaf.DNSNames, names):
		st.Problem = fmt.Sprintf("installed for %s, not for the names declared", strings.Join(in.leaf.DNSNames, " "))
	case left <= 0:
		st.Problem = fmt.Sprintf("EXPIRED %s ago", (-left).Round(time.Minute))
	case left < Warn:
		st.Problem = fmt.Sprintf("expires in %s (less than 14 days): its renewal is failing or not running", left.Round(time.Minute))
	}
}
