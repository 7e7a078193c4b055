// Package adminapi is Cloak's administration API: the acts of
// access.Manager (users, groups, policies) as JSON calls over HTTP, signed
// with SigV4 like any S3 request.
//
// # Wire form
//
// Every call is a POST to PathPrefix + act, for example
// "/.cloak-admin/v1/user/add", with an [Args] JSON body, signed with
// SigV4 (service "s3") by a user whose policies allow the act's action
// (see [Acts]). S3 bucket names cannot start with a dot, so no path under
// PathPrefix can name a bucket. The answer is 200 with the act's result
// as JSON, or an S3 XML error document: InvalidArgument for a name that
// does not exist or exists already, a bad name or a bad policy (the
// message says which), AccessDenied, and ServiceUnavailable when the
// state kept changing under the write.
//
// The proxy serves the endpoint (it authenticates and authorises) and
// calls [Run]; "cloak admin" calls [Run] directly against the store
// (offline) or sends the same call with a [Client] (online).
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// PathPrefix starts every admin API path.
const PathPrefix = "/.cloak-admin/v1/"

// MaxArgsSize bounds a call's JSON body.
const MaxArgsSize = access.MaxPolicySize + 4<<10

// Args are the arguments of every act; each act uses the fields it
// names.
type Args struct {
	User     string          `json:"user,omitempty"`
	Group    string          `json:"group,omitempty"`
	Policy   string          `json:"policy,omitempty"`
	Policies []string        `json:"policies,omitempty"`
	Document json.RawMessage `json:"document,omitempty"`
	KeepOld  bool            `json:"keep_old,omitempty"`
}

// Describe names what the arguments act on, for the audit log: "user
// alice, policies readonly". It holds names only, never a document.
func (a Args) Describe() string {
	var parts []string
	for _, kv := range [][2]string{{"user", a.User}, {"group", a.Group}, {"policy", a.Policy},
		{"policies", strings.Join(a.Policies, ",")}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	if a.KeepOld {
		parts = append(parts, "keeping old keys")
	}
	return strings.Join(parts, ", ")
}

// act is one administrative act: its IAM action, how it runs, and the
// type of its result.
type act struct {
	action string
	run    func(ctx context.Context, m *access.Manager, a Args) (any, error)
	result func() any
}

type done struct {
	OK bool `json:"ok"`
}

func ok(err error) (any, error) { return &done{OK: err == nil}, err }

// ptr returns a pointer to an act's result, the form Client.Call
// returns too.
func ptr[T any](v T, err error) (any, error) { return &v, err }

func newKey() any                 { return new(access.NewKey) }
func newDone() any                { return new(done) }
func newUsers() any               { return new([]access.UserInfo) }
func newGroups() any              { return new([]access.GroupInfo) }
func newPolicy() any              { return new([]access.PolicyInfo) }
func target(a Args) access.Target { return access.Target{User: a.User, Group: a.Group} }

// acts maps each act's name (the path after PathPrefix) to the act.
var acts = map[string]act{
	"user/add": {access.ActCreateUser,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ptr(m.CreateUser(ctx, a.User, a.Policies))
		}, newKey},
	"user/list": {access.ActListUsers,
		func(ctx context.Context, m *access.Manager, _ Args) (any, error) {
			return ptr(m.ListUsers(ctx))
		}, newUsers},
	"user/disable": {access.ActUpdateUser,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.DisableUser(ctx, a.User))
		}, newDone},
	"user/enable": {access.ActUpdateUser,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.EnableUser(ctx, a.User))
		}, newDone},
	"user/remove": {access.ActDeleteUser,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.DeleteUser(ctx, a.User))
		}, newDone},
	"user/rotate-key": {access.ActRotateKey,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ptr(m.RotateKey(ctx, a.User, a.KeepOld))
		}, newKey},
	"group/add": {access.ActCreateGroup,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.CreateGroup(ctx, a.Group, a.Policies))
		}, newDone},
	"group/remove": {access.ActDeleteGroup,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.DeleteGroup(ctx, a.Group))
		}, newDone},
	"group/list": {access.ActListGroups,
		func(ctx context.Context, m *access.Manager, _ Args) (any, error) {
			return ptr(m.ListGroups(ctx))
		}, newGroups},
	"group/add-user": {access.ActUpdateGroup,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.AddUserToGroup(ctx, a.Group, a.User))
		}, newDone},
	"group/remove-user": {access.ActUpdateGroup,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.RemoveUserFromGroup(ctx, a.Group, a.User))
		}, newDone},
	"policy/add": {access.ActCreatePolicy,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.CreatePolicy(ctx, a.Policy, a.Document))
		}, newDone},
	"policy/remove": {access.ActDeletePolicy,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.DeletePolicy(ctx, a.Policy))
		}, newDone},
	"policy/list": {access.ActListPolicies,
		func(ctx context.Context, m *access.Manager, _ Args) (any, error) {
			return ptr(m.ListPolicies(ctx))
		}, newPolicy},
	"policy/attach": {access.ActAttachPolicy,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.AttachPolicy(ctx, a.Policy, target(a)))
		}, newDone},
	"policy/detach": {access.ActDetachPolicy,
		func(ctx context.Context, m *access.Manager, a Args) (any, error) {
			return ok(m.DetachPolicy(ctx, a.Policy, target(a)))
		}, newDone},
}

// Acts lists the act names with the IAM action each needs.
func Acts() map[string]string {
	out := make(map[string]string, len(acts))
	for name, a := range acts {
		out[name] = a.action
	}
	return out
}

// ActOf returns the act named by an admin API path and its IAM action.
func ActOf(path string) (name, action string, ok bool) {
	name, found := strings.CutPrefix(path, PathPrefix)
	if !found {
		return "", "", false
	}
	a, found := acts[name]
	return name, a.action, found
}

// Run performs the act name with args on m and returns its result. It is
// the one place every administrative act passes through, online (the
// endpoint) and offline ("cloak admin" on the store).
func Run(ctx context.Context, m *access.Manager, name string, args Args) (any, error) {
	a, found := acts[name]
	if !found {
		return nil, fmt.Errorf("unknown admin act %q", name)
	}
	return a.run(ctx, m, args)
}

// ToS3 turns an act's error into the S3 error the endpoint answers with.
func ToS3(err error) error {
	switch {
	case errors.Is(err, access.ErrNotFound), errors.Is(err, access.ErrExists),
		errors.Is(err, access.ErrInUse), errors.Is(err, access.ErrInvalidName),
		errors.Is(err, access.ErrInvalidPolicy):
		return s3err.ErrInvalidArgument.WithMessage(err.Error())
	case errors.Is(err, access.ErrConflict):
		return s3err.ErrServiceUnavailable.WithMessage(err.Error())
	}
	return err
}
