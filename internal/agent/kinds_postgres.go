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
		spec.KindPostgresSettings: {
			build: with(func(n string, s *spec.PostgresSettings) (resource.Resource, error) { return postgres.NewSettings(n, s) }),
			remove: removeWith(func(n string, s *spec.PostgresSettings) (resource.Remover, error) {
				return postgres.NewSettingsRemoval(n, s.Restart)
			}),
		},
		spec.KindPostgresHBA: {
			build: with(func(n string, s *spec.PostgresHBA) (resource.Resource, error) { return postgres.NewHBA(n, s) }),
			remove: removeWith(func(n string, s *spec.PostgresHBA) (resource.Remover, error) {
				return &postgres.HBARemoval{Label: n}, nil
			}),
		},
		spec.KindPostgresRole: {
			build: with(func(n string, s *spec.PostgresRole) (resource.Resource, error) { return postgres.NewRole(n, s) }),
			remove: removeWith(func(n string, s *spec.PostgresRole) (resource.Remover, error) {
				return &postgres.RoleRemoval{Name: n}, nil
			}),
		},
		spec.KindPostgresDatabase: {
			build: with(func(n string, s *spec.PostgresDatabase) (resource.Resource, error) { return postgres.NewDatabase(n, s) }),
			remove: removeWith(func(n string, s *spec.PostgresDatabase) (resource.Remover, error) {
				return &postgres.DatabaseRemoval{Name: n}, nil
			}),
		},
		spec.KindPostgresBackup: {
			build: with(func(n string, s *spec.PostgresBackup) (resource.Resource, error) { return pgbackup.New(n, s) }),
			remove: removeWith(func(n string, s *spec.PostgresBackup) (resource.Remover, error) {
				return pgbackup.NewRemoval(n)
			}),
		},
		spec.KindFileBackup: {
			build: with(func(n string, s *spec.FileBackup) (resource.Resource, error) { return scheduled.NewFileBackup(n, s) }),
			remove: removeWith(func(n string, s *spec.FileBackup) (resource.Remover, error) {
				return scheduled.NewFileBackupRemoval(n), nil
			}),
		},
		spec.KindReplica: {
			build: with(func(n string, s *spec.Replica) (resource.Resource, error) { return scheduled.NewReplica(n, s) }),
			remove: removeWith(func(n string, s *spec.Replica) (resource.Remover, error) {
				return scheduled.NewReplicaRemoval(n), nil
			}),
		},
	}
}
