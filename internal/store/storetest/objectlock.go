package storetest

import (
	"context"
	"io"
	"sync"

	"tend/internal/store"
)

// ObjectLock wraps a store the way a bucket with S3 Object Lock behaves
// for objects still under retention: Delete, and a Put that would replace
// an existing object, fail with an error wrapping store.ErrLocked. Which
// objects are retained is decided by a function of the key, which tests
// change as time would release them.
type ObjectLock struct {
	store.Store
	mu       sync.Mutex
	retained func(key string) bool
	refused  int
}

// NewObjectLock wraps st with every object retained.
func NewObjectLock(st store.Store) *ObjectLock {
	return &ObjectLock{Store: st, retained: func(string) bool { return true }}
}

// Retain sets which objects are retained; nil releases all of them.
func (l *ObjectLock) Retain(f func(key string) bool) {
	if f == nil {
		f = func(string) bool { return false }
	}
	l.mu.Lock()
	l.retained = f
	l.mu.Unlock()
}

// Refused is how many deletes and replacing puts were refused so far.
func (l *ObjectLock) Refused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// locked reports whether an existing, retained object is at key.
func (l *ObjectLock) locked(ctx context.Context, key string) bool {
	l.mu.Lock()
	f := l.retained
	l.mu.Unlock()
	if !f(key) {
		return false
	}
	if _, err := l.Store.Stat(ctx, key); err != nil {
		return false // a missing object: Delete is a no-op, Put creates
	}
	l.mu.Lock()
	l.refused++
	l.mu.Unlock()
	return true
}

func (l *ObjectLock) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	if !opts.CreateOnly && l.locked(ctx, key) {
		return &store.Error{Store: l.String(), Op: "put", Key: key, Err: store.ErrLocked}
	}
	return l.Store.Put(ctx, key, r, size, opts)
}

func (l *ObjectLock) Delete(ctx context.Context, key string) error {
	if l.locked(ctx, key) {
		return &store.Error{Store: l.String(), Op: "delete", Key: key, Err: store.ErrLocked}
	}
	return l.Store.Delete(ctx, key)
}
