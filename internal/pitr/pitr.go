// Package pitr is PostgreSQL point-in-time recovery to an object store.
// WAL files are archived continuously (PostgreSQL's archive_command runs
// tend's agent), sealed to age recipients so that hosts can write backups
// but not read them, under content-addressed keys so that an archived file
// is never replaced; base backups are stored in sealed parts with a
// manifest written last. From the store alone it computes each backup's
// restorable window, chooses the backup for a target time, plans retention
// and checks the archive; on a host it takes base backups (pg_basebackup),
// restores, replays to the target, verifies where recovery stopped and
// promotes, and runs restore drills. The format is in docs/pitr.md.
package pitr
