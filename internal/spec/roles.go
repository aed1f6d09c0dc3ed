package spec

// HostRoles returns the roles host plays: its own and, before each, those
// they pull in with requires, each once, in the order Compile applies
// them.
func (r *Repo) HostRoles(h *HostDecl) []string { return r.expand(h.Roles) }
