package access

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"slices"
	"time"
)

// The administrative acts. Each is one method that validates, changes the
// stored state in one conditional write, and returns; "cloak admin"
// (offline) and the admin endpoint (online) both call them.

// NewKey is an access key and its secret, returned once when created.
// It never prints the secret.
type NewKey struct {
	User      string `json:"user"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// String names the user and access key only.
func (k NewKey) String() string {
	return "NewKey{User: " + k.User + ", AccessKey: " + k.AccessKey + "}"
}

// GoString is String.
func (k NewKey) GoString() string { return k.String() }

// maxInactiveKeys bounds how many rotated-out keys a user keeps listed.
const maxInactiveKeys = 4

// CreateUser adds an enabled user with one new access key and the named
// policies attached, and returns the key with its secret.
func (m *Manager) CreateUser(ctx context.Context, name string, policies []string) (NewKey, error) {
	if err := checkName("user", name); err != nil {
		return NewKey{}, err
	}
	if name == RootUser {
		return NewKey{}, fmt.Errorf("user %q: %w (the root user)", name, ErrExists)
	}
	key, rec, err := m.newKey(name)
	if err != nil {
		return NewKey{}, err
	}
	err = m.update(ctx, func(st *state) error {
		if _, ok := st.Users[name]; ok {
			return fmt.Errorf("user %q: %w", name, ErrExists)
		}
		for _, p := range policies {
			if !st.hasPolicy(p) {
				return fmt.Errorf("policy %q: %w", p, ErrNotFound)
			}
		}
		st.Users[name] = &userRecord{Policies: sortedSet(policies),
			Keys: []keyRecord{rec}, Created: rec.Created}
		return nil
	})
	if err != nil {
		return NewKey{}, err
	}
	return key, nil
}

func (m *Manager) newKey(user string) (NewKey, keyRecord, error) {
	id := make([]byte, 10)
	raw := make([]byte, 30)
	defer clear(raw)
	if _, err := rand.Read(id); err != nil {
		return NewKey{}, keyRecord{}, err
	}
	if _, err := rand.Read(raw); err != nil {
		return NewKey{}, keyRecord{}, err
	}
	access := "CLOAK" + base32.StdEncoding.EncodeToString(id)
	sec := base64.RawURLEncoding.EncodeToString(raw)
	rec := keyRecord{AccessKey: access, Secret: secret(sec), Status: KeyActive,
		Created: m.opts.Now().UTC().Truncate(time.Second)}
	return NewKey{User: user, AccessKey: access, SecretKey: sec}, rec, nil
}

// ListUsers lists the users, without secrets.
func (m *Manager) ListUsers(ctx context.Context) ([]UserInfo, error) {
	st, err := m.fresh(ctx)
	if err != nil {
		return nil, err
	}
	return st.userInfos(), nil
}

// DisableUser refuses every request of a user from now on, keeping the
// user and their keys.
func (m *Manager) DisableUser(ctx context.Context, name string) error {
	return m.setDisabled(ctx, name, true)
}

// EnableUser lets a disabled user in again.
func (m *Manager) EnableUser(ctx context.Context, name string) error {
	return m.setDisabled(ctx, name, false)
}

func (m *Manager) setDisabled(ctx context.Context, name string, disabled bool) error {
	return m.update(ctx, func(st *state) error {
		u, err := st.user(name)
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return nil
	})
}

// DeleteUser removes a user and their keys.
func (m *Manager) DeleteUser(ctx context.Context, name string) error {
	return m.update(ctx, func(st *state) error {
		if _, err := st.user(name); err != nil {
			return err
		}
		delete(st.Users, name)
		return nil
	})
}

// RotateKey gives a user a new access key and returns it with its
// secret. The user's other keys become inactive (refused from now on)
// unless keepOld is set, in which case they stay active until the next
// rotation; at most four inactive keys are kept listed.
func (m *Manager) RotateKey(ctx context.Context, name string, keepOld bool) (NewKey, error) {
	key, rec, err := m.newKey(name)
	if err != nil {
		return NewKey{}, err
	}
	err = m.update(ctx, func(st *state) error {
		u, err := st.user(name)
		if err != nil {
			return err
		}
		var inactive []keyRecord
		var active []keyRecord
		for _, k := range u.Keys {
			if k.Status == KeyActive && keepOld {
				active = append(active, k)
				continue
			}
			k.Status = KeyInactive
			inactive = append(inactive, k)
		}
		if len(inactive) > maxInactiveKeys {
			inactive = inactive[len(inactive)-maxInactiveKeys:]
		}
		u.Keys = append(append(inactive, active...), rec)
		return nil
	})
	if err != nil {
		return NewKey{}, err
	}
	return key, nil
}

// CreateGroup adds a group with the named policies attached.
func (m *Manager) CreateGroup(ctx context.Context, name string, policies []string) error {
	if err := checkName("group", name); err != nil {
		return err
	}
	return m.update(ctx, func(st *state) error {
		if _, ok := st.Groups[name]; ok {
			return fmt.Errorf("group %q: %w", name, ErrExists)
		}
		for _, p := range policies {
			if !st.hasPolicy(p) {
				return fmt.Errorf("policy %q: %w", p, ErrNotFound)
			}
		}
		st.Groups[name] = &groupRecord{Policies: sortedSet(policies),
			Created: m.opts.Now().UTC().Truncate(time.Second)}
		return nil
	})
}

// DeleteGroup removes a group; its members leave it.
func (m *Manager) DeleteGroup(ctx context.Context, name string) error {
	return m.update(ctx, func(st *state) error {
		if _, err := st.group(name); err != nil {
			return err
		}
		delete(st.Groups, name)
		for _, u := range st.Users {
			u.Groups, _ = removeString(u.Groups, name)
		}
		return nil
	})
}

// ListGroups lists the groups with their members.
func (m *Manager) ListGroups(ctx context.Context) ([]GroupInfo, error) {
	st, err := m.fresh(ctx)
	if err != nil {
		return nil, err
	}
	return st.groupInfos(), nil
}

// AddUserToGroup makes user a member of group.
func (m *Manager) AddUserToGroup(ctx context.Context, group, user string) error {
	return m.update(ctx, func(st *state) error {
		if _, err := st.group(group); err != nil {
			return err
		}
		u, err := st.user(user)
		if err != nil {
			return err
		}
		if !slices.Contains(u.Groups, group) {
			u.Groups = slices.Sorted(slices.Values(append(u.Groups, group)))
		}
		return nil
	})
}

// RemoveUserFromGroup ends user's membership of group.
func (m *Manager) RemoveUserFromGroup(ctx context.Context, group, user string) error {
	return m.update(ctx, func(st *state) error {
		u, err := st.user(user)
		if err != nil {
			return err
		}
		var was bool
		if u.Groups, was = removeString(u.Groups, group); !was {
			return fmt.Errorf("user %q in group %q: %w", user, group, ErrNotFound)
		}
		return nil
	})
}

// CreatePolicy adds a policy; doc must pass ParsePolicy.
func (m *Manager) CreatePolicy(ctx context.Context, name string, doc []byte) error {
	if err := checkName("policy", name); err != nil {
		return err
	}
	if IsBuiltin(name) {
		return fmt.Errorf("policy %q: %w (built-in)", name, ErrExists)
	}
	if _, err := ParsePolicy(doc); err != nil {
		return err
	}
	return m.update(ctx, func(st *state) error {
		if _, ok := st.Policies[name]; ok {
			return fmt.Errorf("policy %q: %w", name, ErrExists)
		}
		st.Policies[name] = string(doc)
		return nil
	})
}

// DeletePolicy removes a policy that is attached nowhere. Built-in
// policies cannot be removed.
func (m *Manager) DeletePolicy(ctx context.Context, name string) error {
	if IsBuiltin(name) {
		return fmt.Errorf("policy %q: %w (built-in)", name, ErrInUse)
	}
	return m.update(ctx, func(st *state) error {
		if _, ok := st.Policies[name]; !ok {
			return fmt.Errorf("policy %q: %w", name, ErrNotFound)
		}
		if users := st.policyUsers(name); len(users) > 0 {
			return fmt.Errorf("policy %q: %w: attached to %v; detach it first",
				name, ErrInUse, users)
		}
		delete(st.Policies, name)
		return nil
	})
}

// ListPolicies lists the built-in and custom policies, with their
// documents and where each is attached.
func (m *Manager) ListPolicies(ctx context.Context) ([]PolicyInfo, error) {
	st, err := m.fresh(ctx)
	if err != nil {
		return nil, err
	}
	return st.policyInfos(), nil
}

// Target is what a policy is attached to: a user or a group.
type Target struct {
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

func (t Target) String() string {
	if t.User != "" {
		return "user " + t.User
	}
	return "group " + t.Group
}

// attached returns the policy list of the target in st.
func (t Target) attached(st *state) (*[]string, error) {
	switch {
	case (t.User == "") == (t.Group == ""):
		return nil, fmt.Errorf("name either a user or a group: %w", ErrInvalidName)
	case t.User != "":
		u, err := st.user(t.User)
		if err != nil {
			return nil, err
		}
		return &u.Policies, nil
	}
	g, err := st.group(t.Group)
	if err != nil {
		return nil, err
	}
	return &g.Policies, nil
}

// AttachPolicy attaches a policy to a user or a group.
func (m *Manager) AttachPolicy(ctx context.Context, policy string, t Target) error {
	return m.update(ctx, func(st *state) error {
		if !st.hasPolicy(policy) {
			return fmt.Errorf("policy %q: %w", policy, ErrNotFound)
		}
		list, err := t.attached(st)
		if err != nil {
			return err
		}
		if !slices.Contains(*list, policy) {
			*list = slices.Sorted(slices.Values(append(*list, policy)))
		}
		return nil
	})
}

// DetachPolicy detaches a policy from a user or a group.
func (m *Manager) DetachPolicy(ctx context.Context, policy string, t Target) error {
	return m.update(ctx, func(st *state) error {
		list, err := t.attached(st)
		if err != nil {
			return err
		}
		var was bool
		if *list, was = removeString(*list, policy); !was {
			return fmt.Errorf("policy %q on %s: %w", policy, t, ErrNotFound)
		}
		return nil
	})
}

// sortedSet returns names sorted, without repeats.
func sortedSet(names []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(names)))
}
