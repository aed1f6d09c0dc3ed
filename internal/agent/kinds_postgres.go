package agent

import (
	"tend/internal/resource"
	"tend/internal/resource/pgbackup"
	"tend/internal/resource/postgres"
	"tend/internal/resource/scheduled"
	"tend/internal/spec"
)

// postgresKinds lists the kinds of this family (PostgreSQL, and the
// backups and replicas built like its backups); see registry.
func postgresKinds() map[spec.Kind]kind {
	return map[spec.Kind]kind{
		spec.KindPostgresSettings: {build: with(func(n string, s *spec.PostgresSettings) (resource.Resource, error) {
			return postgres.NewSettings(n, s)
		})},
		spec.KindPostgresHBA: {build: with(func(n string, s *spec.PostgresHBA) (resource.Resource, error) { return postgres.NewHBA(n, s) })},
		spec.KindPostgresRole: {build: with(func(n string, s *spec.PostgresRole) (resource.Resource, error) {
			return postgres.NewRole(n, s)
		})},
		spec.KindPostgresBackup: {build: with(func(n string, s *spec.PostgresBackup) (resource.Resource, error) {
			return pgbackup.New(n, s)
		})},
		spec.KindFileBackup: {build: with(func(n string, s *spec.FileBackup) (resource.Resource, error) {
			return scheduled.NewFileBackup(n, s)
		})},
		spec.KindReplica: {build: with(func(n string, s *spec.Replica) (resource.Resource, error) {
			return scheduled.NewReplica(n, s)
		})},
		spec.KindPostgresDatabase: {build: with(func(n string, s *spec.PostgresDatabase) (resource.Resource, error) {
			return postgres.NewDatabase(n, s)
		})},
	}
}
