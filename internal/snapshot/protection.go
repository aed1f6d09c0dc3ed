package snapshot

import (
	"context"

	"tend/internal/store"
	"tend/internal/store/storeurl"
)

// StoreProtection reads, with the credentials getenv gives (a job's own),
// whether the store at url refuses their deletes and overwrites:
// store.CheckProtection's summary and problem. A store that cannot be
// opened gives neither: the job's runs report that.
func StoreProtection(ctx context.Context, url string, getenv func(string) string) (summary, problem string) {
	st, err := storeurl.Open(ctx, url, getenv)
	if err != nil {
		return "", ""
	}
	return store.CheckProtection(ctx, st)
}
