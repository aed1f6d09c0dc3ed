package account

import "testing"

// TestUserGroups: the last USERGROUPS_ENAB of login.defs decides, and the
// copy userdel reads says no.
func TestUserGroups(t *testing.T) {
	for _, tc := range []struct {
		defs string
		want bool
	}{
		{"USERGROUPS_ENAB yes\n", true},
		{"# USERGROUPS_ENAB yes\nUMASK 022\n", false},
		{"USERGROUPS_ENAB yes\nUSERGROUPS_ENAB no\n", false},
		{"  USERGROUPS_ENAB\tYES\n", true},
		{"", false},
	} {
		if got := userGroups([]byte(tc.defs)); got != tc.want {
			t.Errorf("userGroups(%q) = %v, want %v", tc.defs, got, tc.want)
		}
		if userGroups(withoutUserGroups([]byte(tc.defs))) {
			t.Errorf("withoutUserGroups(%q) still enables them", tc.defs)
		}
	}
}
