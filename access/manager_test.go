package access

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// memStorage is a Storage in memory with the conditional-write contract.
type memStorage struct {
	mu      sync.Mutex
	doc     []byte
	version int
	writes  int
}

func (m *memStorage) ver() string {
	if m.doc == nil {
		return ""
	}
	return strconv.Itoa(m.version)
}

func (m *memStorage) Version(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ver(), nil
}

func (m *memStorage) Read(context.Context) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc, m.ver(), nil
}

func (m *memStorage) Write(_ context.Context, doc []byte, ifVersion string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ifVersion != m.ver() {
		return "", ErrConflict
	}
	m.doc, m.version, m.writes = doc, m.version+1, m.writes+1
	return m.ver(), nil
}

func newTestManager(t *testing.T, st Storage) *Manager {
	t.Helper()
	m, err := NewManager(context.Background(), Options{Storage: st,
		Root: &sigv4.Credential{AccessKey: "ROOTKEY", SecretKey: "rootsecret"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lookupIdentity(t *testing.T, m *Manager, ak string) *Identity {
	t.Helper()
	c, err := m.Lookup(context.Background(), ak)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", ak, err)
	}
	return c.Identity.(*Identity)
}

func TestManagerUsersAndPolicies(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t, &memStorage{})
	k, err := m.CreateUser(ctx, "alice", []string{"readonly"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", k, k, k), k.SecretKey) {
		t.Error("NewKey prints its secret")
	}
	c, err := m.Lookup(ctx, k.AccessKey)
	if err != nil || c.SecretKey != k.SecretKey {
		t.Fatalf("Lookup = %v, %v", c, err)
	}
	id := c.Identity.(*Identity)
	get := Request{Action: ActGetObject, Resource: ObjectARN("b", "k")}
	put := Request{Action: ActPutObject, Resource: ObjectARN("b", "k")}
	if !id.Allowed(get) || id.Allowed(put) {
		t.Fatal("readonly user: want GET allowed and PUT not")
	}
	if _, err := m.CreateUser(ctx, "alice", nil); !errors.Is(err, ErrExists) {
		t.Errorf("second alice: %v", err)
	}
	if _, err := m.CreateUser(ctx, "bob", []string{"nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown policy: %v", err)
	}
	if _, err := m.CreateUser(ctx, "bad name", nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}

	// A group's policies apply to its members.
	if err := m.CreatePolicy(ctx, "put-docs", []byte(`{"Version":"2012-10-17","Statement":
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateGroup(ctx, "writers", []string{"put-docs"}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUserToGroup(ctx, "writers", "alice"); err != nil {
		t.Fatal(err)
	}
	if !lookupIdentity(t, m, k.AccessKey).Allowed(put) {
		t.Error("group policy not applied")
	}
	if err := m.DeletePolicy(ctx, "put-docs"); !errors.Is(err, ErrInUse) {
		t.Errorf("delete attached policy: %v", err)
	}
	if err := m.RemoveUserFromGroup(ctx, "writers", "alice"); err != nil {
		t.Fatal(err)
	}
	if lookupIdentity(t, m, k.AccessKey).Allowed(put) {
		t.Error("policy of a group left still applies")
	}

	// Disabled users are found but allowed nothing; enabling restores.
	if err := m.DisableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if id := lookupIdentity(t, m, k.AccessKey); !id.Disabled || id.Allowed(get) {
		t.Error("disabled user allowed")
	}
	if err := m.EnableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if !lookupIdentity(t, m, k.AccessKey).Allowed(get) {
		t.Error("enabled user refused")
	}

	// Rotation: the old key is refused, the new one works.
	k2, err := m.RotateKey(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, k.AccessKey); !errors.Is(err, s3err.ErrInvalidAccessKeyID) {
		t.Errorf("old key after rotation: %v", err)
	}
	lookupIdentity(t, m, k2.AccessKey)

	if id := lookupIdentity(t, m, "ROOTKEY"); !id.Root ||
		!id.Allowed(Request{Action: ActCreateUser, Resource: AdminResource}) {
		t.Error("root is not an admin")
	}
	if err := m.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, k2.AccessKey); !errors.Is(err, s3err.ErrInvalidAccessKeyID) {
		t.Errorf("key of removed user: %v", err)
	}
}

// Two Managers over one Storage (two instances): changes made through
// either survive, and each sees the other's after Reload.
func TestManagerSharedStorage(t *testing.T) {
	ctx := context.Background()
	st := &memStorage{}
	a, b := newTestManager(t, st), newTestManager(t, st)
	ka, err := a.CreateUser(ctx, "alice", []string{"readonly"})
	if err != nil {
		t.Fatal(err)
	}
	// b has not reloaded; its write must still keep alice.
	if _, err := b.CreateUser(ctx, "bob", []string{"readwrite"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup(ctx, ka.AccessKey); err != nil {
		t.Errorf("b lost alice: %v", err)
	}
	if err := b.DisableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if lookupIdentity(t, a, ka.AccessKey).Disabled {
		t.Fatal("a saw the change before reloading")
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !lookupIdentity(t, a, ka.AccessKey).Disabled {
		t.Error("a did not see alice disabled after reload")
	}
	users, err := a.ListUsers(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("ListUsers = %v, %v", users, err)
	}
}

// Concurrent writers through several Managers lose nothing.
func TestManagerConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	st := &memStorage{}
	ms := []*Manager{newTestManager(t, st), newTestManager(t, st), newTestManager(t, st)}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ms[i%3].CreateGroup(ctx, "g"+strconv.Itoa(i), nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
		failed++
	}
	gs, err := ms[0].ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 12-failed {
		t.Errorf("%d groups stored, want %d (%d gave up)", len(gs), 12-failed, failed)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerKey: 3, PerAddress: 5, Window: time.Minute})
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if l.Blocked("K", "1.2.3.4", now) {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Failed("K", "1.2.3.4", now)
	}
	if !l.Blocked("K", "9.9.9.9", now) {
		t.Error("key not blocked after 3 failures")
	}
	if l.Blocked("OTHER", "1.2.3.4", now) {
		t.Error("address blocked after 3 of 5 failures")
	}
	l.Failed("K2", "1.2.3.4", now)
	l.Failed("K3", "1.2.3.4", now)
	if !l.Blocked("OTHER", "1.2.3.4", now) {
		t.Error("address not blocked after 5 failures")
	}
	if l.Blocked("K", "5.5.5.5", now.Add(time.Minute)) {
		t.Error("still blocked after the window")
	}
	off := NewLimiter(LimiterConfig{PerKey: -1, PerAddress: -1})
	for range 100 {
		off.Failed("K", "a", now)
	}
	if off.Blocked("K", "a", now) {
		t.Error("disabled limiter blocked")
	}
}
