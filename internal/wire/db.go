package wire

import (
	"encoding/json"
	"errors"
)

// DBReply is the agent's answer to one `tend db` request (`tend agent db`):
// the operation's result, or the diagnostic of what failed with its hint.
// The request is the backup package's own (pitr.Request): it names the
// operation and carries its parameters.
type DBReply struct {
	Protocol int             `json:"protocol"`
	Result   json.RawMessage `json:"result,omitempty"`
	Diag     *Diagnostic     `json:"diag,omitempty"`
}

// Decode returns the reply's failure as an error carrying its hint, or
// decodes its result into out (when out is not nil).
func (r *DBReply) Decode(out any) error {
	if r.Diag != nil {
		return r.Diag.Err()
	}
	if out == nil || len(r.Result) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return errors.New("unreadable result from the agent: " + err.Error())
	}
	return nil
}
