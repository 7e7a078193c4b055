package access

import (
	"net/netip"
	"strings"
)

// Request is what an authorisation decision is about: one action on one
// resource, and the facts conditions may test.
type Request struct {
	// Action is an IAM action such as "s3:GetObject" or "cloak:CreateUser".
	Action string
	// Resource is an ARN: "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key",
	// "arn:aws:s3:::*" for ListAllMyBuckets, AdminResource for the admin
	// API.
	Resource string
	// SourceIP is the client's address (aws:SourceIp); the zero Addr
	// matches neither IpAddress nor NotIpAddress.
	SourceIP netip.Addr
	// Secure reports a request that came over TLS (aws:SecureTransport).
	Secure bool
	// Keys are the string condition keys present in the request
	// (KeyPrefix, KeyDelimiter), by lower-case name. A key absent from Keys is
	// absent from the request: StringEquals and StringLike on it do not
	// hold, StringNotEquals and StringNotLike do, as in IAM.
	Keys map[string]string
	// AnyKeys asks whether the action is allowed for some values of the
	// string condition keys, as ListBuckets does to show a bucket that a
	// user may list only in part: string conditions of Allow statements
	// then hold, and Deny statements with string conditions (which may
	// spare some values) do not apply. Keys is ignored.
	AnyKeys bool
}

// Decision is the outcome of evaluating policies for a Request.
type Decision int

// The decisions. Only Allowed lets a request through.
const (
	// NotAllowed: no statement allows the request (the default).
	NotAllowed Decision = iota
	// Allowed: a statement allows it and none denies it.
	Allowed
	// Denied: a statement denies it explicitly, whatever else allows it.
	Denied
)

// Evaluate decides req under policies, as IAM does for identity
// policies: an explicit Deny in any statement wins, else an Allow in any
// statement allows, else the request is not allowed.
func Evaluate(policies []*Policy, req Request) Decision {
	action := strings.ToLower(req.Action)
	d := NotAllowed
	for _, p := range policies {
		for i := range p.statements {
			st := &p.statements[i]
			if !st.applies(action, req) {
				continue
			}
			if !st.allow {
				return Denied
			}
			d = Allowed
		}
	}
	return d
}

// applies reports whether the statement covers the request.
func (st *statement) applies(action string, req Request) bool {
	if st.actions != nil && !matchAny(st.actions, action) {
		return false
	}
	if st.notActions != nil && matchAny(st.notActions, action) {
		return false
	}
	if !matchAny(st.resources, req.Resource) {
		return false
	}
	for _, c := range st.conditions {
		switch {
		case !req.AnyKeys || c.key == "":
			if !c.holds(req) {
				return false
			}
		case !st.allow:
			return false // a Deny on some values may spare others
		}
	}
	return true
}

func (c condition) holds(req Request) bool {
	switch c.op {
	case "IpAddress", "NotIpAddress":
		if !req.SourceIP.IsValid() {
			return false
		}
		ip := req.SourceIP.Unmap()
		in := false
		for _, n := range c.nets {
			if n.Contains(ip) {
				in = true
				break
			}
		}
		return in == (c.op == "IpAddress")
	case "Bool":
		return req.Secure == c.secure
	case "StringEquals", "StringNotEquals", "StringLike", "StringNotLike":
		v, present := req.Keys[c.key]
		like := c.op == "StringLike" || c.op == "StringNotLike"
		hit := false
		for _, want := range c.values {
			if present && (v == want || like && match(want, v)) {
				hit = true
				break
			}
		}
		return hit == (c.op == "StringEquals" || c.op == "StringLike")
	}
	return false
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// match reports whether s matches pattern, in which "*" matches any run
// of bytes (also none) and "?" any one byte. It runs in O(len(pattern) *
// len(s)) at worst, backtracking only to the last "*".
func match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
