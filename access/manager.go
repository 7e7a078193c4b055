package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// SystemBucketPrefix starts the name of every bucket Cloak keeps for
// itself. The proxy hides such buckets from listings and refuses every
// client request naming one.
const SystemBucketPrefix = "cloak-system"

// DefaultBucket is the default system bucket holding the access state,
// and StateKey the state document's key in it.
const (
	DefaultBucket = SystemBucketPrefix
	StateKey      = "access/state.json"
)

// IsSystemBucket reports whether bucket is reserved for Cloak.
func IsSystemBucket(bucket string) bool { return strings.HasPrefix(bucket, SystemBucketPrefix) }

// DefaultReloadInterval is how often a Manager checks the stored state for
// changes made elsewhere when its Options do not say.
const DefaultReloadInterval = time.Second

// Options configure a Manager.
type Options struct {
	// Storage keeps the state document. Required.
	Storage Storage
	// Root is the root user's credential, or nil for none (offline
	// administration needs no login). The root user is an admin.
	Root *sigv4.Credential
	// Logger receives reload errors; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock for creation times; time.Now when nil.
	Now func() time.Time
}

// Manager holds the users, groups and policies, answers credential
// lookups for the SigV4 verifier (it is a sigv4.CredentialStore), and
// performs the administrative acts. It is safe for concurrent use.
//
// The state lives in Storage. A change made through a Manager applies to
// it at once; other Managers over the same Storage (other instances) see
// it at their next Reload, which Watch runs every reload interval.
type Manager struct {
	opts    Options
	log     *slog.Logger
	current atomic.Pointer[snapshot]
	// mu serialises this Manager's writes and reloads; conditional
	// writes keep other Managers from losing changes.
	mu sync.Mutex
}

// snapshot is one version of the state, compiled for lookups.
type snapshot struct {
	state    *state
	version  string
	byKey    map[string]keyOwner
	policies map[string]*Policy // custom policies, compiled
}

type keyOwner struct {
	user string
	key  keyRecord
}

// NewManager returns a Manager with the state read from opts.Storage.
func NewManager(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Storage == nil {
		return nil, errors.New("access: Storage is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Manager{opts: opts, log: opts.Logger}
	doc, version, err := opts.Storage.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read access state: %w", err)
	}
	snap, err := compile(doc, version)
	if err != nil {
		return nil, err
	}
	m.current.Store(snap)
	return m, nil
}

func compile(doc []byte, version string) (*snapshot, error) {
	st, err := decodeState(doc)
	if err != nil {
		return nil, err
	}
	return compileState(st, version)
}

func compileState(st *state, version string) (*snapshot, error) {
	snap := &snapshot{state: st, version: version, byKey: map[string]keyOwner{},
		policies: map[string]*Policy{}}
	for name, doc := range st.Policies {
		p, err := ParsePolicy([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("access state: policy %q: %w", name, err)
		}
		snap.policies[name] = p
	}
	for name, u := range st.Users {
		for _, k := range u.Keys {
			snap.byKey[k.AccessKey] = keyOwner{user: name, key: k}
		}
	}
	return snap, nil
}

// Identity is who signed a request, as the Manager's Lookup attaches it
// to sigv4.Credential.Identity: a user and the policies that apply to
// them (their own and their groups').
type Identity struct {
	User     string
	Root     bool
	Disabled bool
	policies []*Policy
}

// Allowed reports whether the identity may do req. A disabled user may
// do nothing; the root user everything.
func (id *Identity) Allowed(req Request) bool {
	if id.Disabled {
		return false
	}
	if id.Root {
		return true
	}
	return Evaluate(id.policies, req) == Allowed
}

// Lookup implements sigv4.CredentialStore. An inactive access key, like
// an unknown one, is InvalidAccessKeyId (as S3 answers for an inactive
// key). A disabled user's key is found, with Identity.Disabled set, so
// that the holder of the secret alone learns that it is disabled.
func (m *Manager) Lookup(_ context.Context, accessKey string) (sigv4.Credential, error) {
	if r := m.opts.Root; r != nil && accessKey == r.AccessKey {
		return sigv4.Credential{AccessKey: r.AccessKey, SecretKey: r.SecretKey,
			Identity: &Identity{User: RootUser, Root: true}}, nil
	}
	snap := m.current.Load()
	owner, ok := snap.byKey[accessKey]
	if !ok || owner.key.Status != KeyActive {
		return sigv4.Credential{}, s3err.ErrInvalidAccessKeyID
	}
	u := snap.state.Users[owner.user]
	return sigv4.Credential{AccessKey: accessKey, SecretKey: string(owner.key.Secret),
		Identity: snap.identity(owner.user, u)}, nil
}

func (snap *snapshot) identity(name string, u *userRecord) *Identity {
	id := &Identity{User: name, Disabled: u.Disabled}
	add := func(names []string) {
		for _, p := range names {
			if pol, ok := builtins[p]; ok {
				id.policies = append(id.policies, pol)
			} else if pol, ok := snap.policies[p]; ok {
				id.policies = append(id.policies, pol)
			}
		}
	}
	add(u.Policies)
	for _, g := range u.Groups {
		if gr, ok := snap.state.Groups[g]; ok {
			add(gr.Policies)
		}
	}
	return id
}

// Reload reads the stored state if it changed since the Manager last saw
// it. On an error the Manager keeps the state it has.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) error {
	version, err := m.opts.Storage.Version(ctx)
	if err != nil {
		return fmt.Errorf("check access state: %w", err)
	}
	if version == m.current.Load().version {
		return nil
	}
	doc, version, err := m.opts.Storage.Read(ctx)
	if err != nil {
		return fmt.Errorf("read access state: %w", err)
	}
	snap, err := compile(doc, version)
	if err != nil {
		return err
	}
	m.current.Store(snap)
	m.log.Info("access state reloaded", slog.Int("users", len(snap.state.Users)))
	return nil
}

// Watch calls Reload every interval until ctx ends, logging failures.
func (m *Manager) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("access state reload failed", slog.String("error", err.Error()))
			}
		}
	}
}

// updateAttempts bounds the retries of a change that lost a race with a
// change made elsewhere.
const updateAttempts = 5

// update applies change to the latest stored state and writes it back
// conditionally, retrying on a conflict. The new state applies to this
// Manager at once.
func (m *Manager) update(ctx context.Context, change func(*state) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range updateAttempts {
		doc, version, err := m.opts.Storage.Read(ctx)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read access state: %w", err)
		}
		st, err := decodeState(doc)
		if err != nil {
			return err
		}
		if err := change(st); err != nil {
			return err
		}
		snap, err := compileState(st, "")
		if err != nil {
			return err
		}
		out, err := json.Marshal(st)
		if err != nil {
			return err
		}
		snap.version, err = m.opts.Storage.Write(ctx, out, version)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write access state: %w", err)
		}
		m.current.Store(snap)
		return nil
	}
	return fmt.Errorf("%w %d times in a row; try again", ErrConflict, updateAttempts)
}

// fresh returns the current state after a reload, for listings.
func (m *Manager) fresh(ctx context.Context) (*state, error) {
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m.current.Load().state, nil
}

// removeString returns list without s, and whether it was there.
func removeString(list []string, s string) ([]string, bool) {
	i := slices.Index(list, s)
	if i < 0 {
		return list, false
	}
	return slices.Delete(slices.Clone(list), i, i+1), true
}
