package wire

import "time"

// HostStatus is what `tend agent status` answers `tend status`: the record
// of the host's scheduled jobs and the health of its PostgreSQL backups.
type HostStatus struct {
	Protocol  int         `json:"protocol"`
	Jobs      []JobStatus `json:"jobs"`
	Databases []*DBStatus `json:"databases"`
	// PendingRestart: PostgreSQL settings whose new value waits for a
	// restart the spec did not allow (restart: allowed); PostgresError
	// says why the server could not be asked.
	PendingRestart []string `json:"pending_restart,omitempty"`
	PostgresError  string   `json:"postgres_error,omitempty"`
	// Certificates: every certificate resource of the host, as installed.
	// A failed renewal is its job's problem (Jobs, kind certificate).
	Certificates []CertStatus `json:"certificates,omitempty"`
	// Tunnels is the health of each side of a tunnel on the host.
	Tunnels []TunnelStatus `json:"tunnels,omitempty"`
}

// CertStatus is one certificate as the host has it installed.
type CertStatus struct {
	Name     string    `json:"name"`
	Names    []string  `json:"names"` // the names declared
	Issuer   string    `json:"issuer,omitempty"`
	Serial   string    `json:"serial,omitempty"` // hex
	NotAfter time.Time `json:"not_after,omitzero"`
	// Problem: not issued yet (a placeholder), unusable, for other names
	// than declared, expired or within 14 days of expiry.
	Problem string `json:"problem,omitempty"`
}

// TunnelStatus is the health of one side of a tunnel on a host.
type TunnelStatus struct {
	Link   string `json:"link"`
	Side   string `json:"side"`   // server or client
	Listen string `json:"listen"` // where it accepts
	Dial   string `json:"dial"`   // where it connects
	// Connected: a client side completed a handshake with its server just
	// now; a server side is running and listening.
	Connected     bool      `json:"connected"`
	Active        int       `json:"active"` // connections open now
	LastConnected time.Time `json:"last_connected,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	CertNotAfter  time.Time `json:"cert_not_after,omitzero"`
	Problem       string    `json:"problem,omitempty"` // not running, cannot connect, certificate expiring
	// Stunnel: stunnel4 runs this side; Connected then says its unit runs.
	Stunnel bool `json:"stunnel,omitempty"`
}

// JobStatus is the record of a scheduled job's runs (file_backup,
// replica), kept on the host by `tend agent job`.
type JobStatus struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	What        string    `json:"what"`
	LastAttempt time.Time `json:"last_attempt"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Failures    int       `json:"failures,omitempty"` // consecutive
	Duration    string    `json:"duration,omitempty"`
	Output      string    `json:"output,omitempty"` // the end of the last run's output
	MaxAge      string    `json:"max_age"`
	Problem     string    `json:"problem,omitempty"` // failed, never ran, late, or store unprotected
	// Protection is as in DBStatus, for jobs that write to a store.
	Protection string `json:"protection,omitempty"`
}

// DBStatus is the health of a cluster's backups, as `tend db status` and
// `tend status` show it.
type DBStatus struct {
	Cluster          string       `json:"cluster"`
	Store            string       `json:"store"`
	ArchiveMode      string       `json:"archive_mode"`
	ArchiveTimeout   int          `json:"archive_timeout"` // seconds
	ArchivedCount    int64        `json:"archived_count"`
	LastArchived     string       `json:"last_archived,omitempty"`
	LastArchivedTime *time.Time   `json:"last_archived_time,omitempty"`
	FailedCount      int64        `json:"failed_count"`
	LastFailed       string       `json:"last_failed,omitempty"`
	LastFailedTime   *time.Time   `json:"last_failed_time,omitempty"`
	Ready            int          `json:"ready"` // WAL files waiting to be archived
	OldestReady      *time.Time   `json:"oldest_ready,omitempty"`
	Backups          int          `json:"backups"`
	LastBackup       string       `json:"last_backup,omitempty"`
	LastBackupTime   *time.Time   `json:"last_backup_time,omitempty"`
	From             *time.Time   `json:"restorable_from,omitempty"`
	To               *time.Time   `json:"restorable_to,omitempty"`
	LastDrill        *DrillRecord `json:"last_drill,omitempty"`
	// Protection is what the store's server does against this host's
	// key (store.Protection's summary), "off", or "" for a directory store.
	Protection string    `json:"protection,omitempty"`
	Problems   []string  `json:"problems,omitempty"`
	Now        time.Time `json:"now"`
}

// DrillRecord is the result of one restore drill, stored as plain JSON
// under drills/ in the backup store so that status can show it from any
// host.
type DrillRecord struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host"` // where the drill ran
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
	Backup      string    `json:"backup,omitempty"`
	ReplayedTo  time.Time `json:"replayed_to,omitempty"`
	Query       string    `json:"query,omitempty"`
	QueryResult string    `json:"query_result,omitempty"`
	Duration    string    `json:"duration,omitempty"`
}
