package pitr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"tend/internal/wire"
)

// ServeWire serves one `tend db` request on this host (`tend agent db`):
// the request is read as JSON from in (never from arguments: it may hold
// credentials and the backup identity), the wire.DBReply written to out,
// progress lines given to progress. It reports whether the operation
// succeeded (the reply says why not); the error is a failure to read the
// request or to answer.
func ServeWire(ctx context.Context, in io.Reader, out io.Writer, progress func(string)) (bool, error) {
	var req Request
	if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(&req); err != nil {
		return false, fmt.Errorf("agent db: reading the request: %w", err)
	}
	if req.Binary == "" {
		req.Binary, _ = os.Executable()
	}
	res, err := Serve(ctx, &req, progress)
	reply := wire.DBReply{Protocol: wire.Protocol, Diag: wire.Diag("", err)}
	if err == nil && res != nil {
		b, merr := json.Marshal(res)
		if merr != nil {
			return false, merr
		}
		reply.Result = b
	}
	if eerr := json.NewEncoder(out).Encode(reply); eerr != nil {
		return false, eerr
	}
	return err == nil, nil
}
