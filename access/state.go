package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Storage keeps the access state document: users, groups, policies and
// the users' secret keys. Implementations keep it sealed (encrypted and
// authenticated under the key provider) and write it only conditionally,
// so that two administrators never lose each other's changes.
type Storage interface {
	// Version returns the stored document's version (an opaque string
	// that changes with every write), or "" when there is none.
	Version(ctx context.Context) (string, error)
	// Read returns the document and its version, or nil and "" when
	// there is none. It may return ErrConflict when the document was
	// rewritten while it was being read.
	Read(ctx context.Context) (doc []byte, version string, err error)
	// Write stores doc if the stored version is still ifVersion (""
	// meaning that no document may exist) and returns the new version;
	// otherwise it returns ErrConflict and changes nothing.
	Write(ctx context.Context, doc []byte, ifVersion string) (string, error)
}

// Errors of the administrative acts, for callers to branch on.
var (
	// ErrConflict: the state changed between its read and a write.
	ErrConflict = errors.New("the access state changed meanwhile")
	// ErrNotFound: the user, group or policy named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a user, group or policy of that name exists already.
	ErrExists = errors.New("already exists")
	// ErrInUse: a policy is still attached, or a built-in is named.
	ErrInUse = errors.New("in use")
	// ErrInvalidName: a name breaks the naming rules.
	ErrInvalidName = errors.New("invalid name")
)

// stateFormat is the version of the state document's layout.
const stateFormat = 1

// state is the access state document, stored as JSON inside its seal.
type state struct {
	Format   int                     `json:"format"`
	Users    map[string]*userRecord  `json:"users"`
	Groups   map[string]*groupRecord `json:"groups"`
	Policies map[string]string       `json:"policies"`
}

type userRecord struct {
	Disabled bool        `json:"disabled,omitempty"`
	Groups   []string    `json:"groups,omitempty"`
	Policies []string    `json:"policies,omitempty"`
	Keys     []keyRecord `json:"keys"`
	Created  time.Time   `json:"created"`
}

type groupRecord struct {
	Policies []string  `json:"policies,omitempty"`
	Created  time.Time `json:"created"`
}

// Key states.
const (
	KeyActive   = "active"
	KeyInactive = "inactive"
)

type keyRecord struct {
	AccessKey string    `json:"access_key"`
	Secret    secret    `json:"secret"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
}

// secret is a secret key; it never prints.
type secret string

func (secret) String() string               { return "[REDACTED]" }
func (s secret) GoString() string           { return s.String() }
func (s secret) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, s.String()) }
func (s secret) LogValue() slog.Value       { return slog.StringValue(s.String()) }

func newState() *state {
	return &state{Format: stateFormat, Users: map[string]*userRecord{},
		Groups: map[string]*groupRecord{}, Policies: map[string]string{}}
}

func decodeState(doc []byte) (*state, error) {
	st := newState()
	if doc == nil {
		return st, nil
	}
	if err := json.Unmarshal(doc, st); err != nil {
		return nil, fmt.Errorf("access state: %w", err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("access state: format %d is not known to this version of Cloak", st.Format)
	}
	if st.Users == nil {
		st.Users = map[string]*userRecord{}
	}
	if st.Groups == nil {
		st.Groups = map[string]*groupRecord{}
	}
	if st.Policies == nil {
		st.Policies = map[string]string{}
	}
	return st, nil
}

// nameRule is what user, group and policy names may be (IAM's rule).
var nameRule = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)

func checkName(kind, name string) error {
	if !nameRule.MatchString(name) {
		return fmt.Errorf("%s name %q: %w: 1 to 64 of A-Z a-z 0-9 + = , . @ _ -", kind, name, ErrInvalidName)
	}
	return nil
}

// RootUser is the name the root user goes by; no user may take it.
const RootUser = "root"

func (st *state) user(name string) (*userRecord, error) {
	u, ok := st.Users[name]
	if !ok {
		return nil, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return u, nil
}

func (st *state) group(name string) (*groupRecord, error) {
	g, ok := st.Groups[name]
	if !ok {
		return nil, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return g, nil
}

func (st *state) hasPolicy(name string) bool {
	_, ok := st.Policies[name]
	return ok || IsBuiltin(name)
}

// policyUsers lists where a policy is attached, as "user NAME" and
// "group NAME".
func (st *state) policyUsers(policy string) []string {
	var out []string
	for name, u := range st.Users {
		if slices.Contains(u.Policies, policy) {
			out = append(out, "user "+name)
		}
	}
	for name, g := range st.Groups {
		if slices.Contains(g.Policies, policy) {
			out = append(out, "group "+name)
		}
	}
	sort.Strings(out)
	return out
}

// UserInfo describes a user for listings; it holds no secret.
type UserInfo struct {
	Name     string    `json:"name"`
	Enabled  bool      `json:"enabled"`
	Groups   []string  `json:"groups,omitempty"`
	Policies []string  `json:"policies,omitempty"`
	Keys     []KeyInfo `json:"keys"`
	Created  time.Time `json:"created"`
}

// KeyInfo describes an access key for listings.
type KeyInfo struct {
	AccessKey string    `json:"access_key"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
}

// GroupInfo describes a group for listings.
type GroupInfo struct {
	Name     string    `json:"name"`
	Members  []string  `json:"members,omitempty"`
	Policies []string  `json:"policies,omitempty"`
	Created  time.Time `json:"created"`
}

// PolicyInfo describes a policy for listings.
type PolicyInfo struct {
	Name       string   `json:"name"`
	Builtin    bool     `json:"builtin"`
	AttachedTo []string `json:"attached_to,omitempty"`
	Document   string   `json:"document"`
}

func (st *state) userInfos() []UserInfo {
	var out []UserInfo
	for name, u := range st.Users {
		ui := UserInfo{Name: name, Enabled: !u.Disabled, Groups: u.Groups, Policies: u.Policies,
			Created: u.Created}
		for _, k := range u.Keys {
			ui.Keys = append(ui.Keys, KeyInfo{AccessKey: k.AccessKey, Status: k.Status, Created: k.Created})
		}
		out = append(out, ui)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (st *state) groupInfos() []GroupInfo {
	var out []GroupInfo
	for name, g := range st.Groups {
		gi := GroupInfo{Name: name, Policies: g.Policies, Created: g.Created}
		for uname, u := range st.Users {
			if slices.Contains(u.Groups, name) {
				gi.Members = append(gi.Members, uname)
			}
		}
		sort.Strings(gi.Members)
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (st *state) policyInfos() []PolicyInfo {
	var out []PolicyInfo
	for _, name := range BuiltinPolicies {
		doc, _ := BuiltinDocument(name)
		out = append(out, PolicyInfo{Name: name, Builtin: true, AttachedTo: st.policyUsers(name),
			Document: doc})
	}
	names := make([]string, 0, len(st.Policies))
	for name := range st.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, PolicyInfo{Name: name, AttachedTo: st.policyUsers(name),
			Document: st.Policies[name]})
	}
	return out
}
