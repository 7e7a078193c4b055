package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// Bounds on policy documents, checked before a document is decoded.
const (
	// MaxPolicySize is the largest policy document accepted, in bytes.
	MaxPolicySize = 16 << 10
	// MaxPolicyDepth is the deepest nesting of JSON objects and arrays
	// accepted. A valid document needs six levels (policy, statement
	// list, statement, condition, operator, value list).
	MaxPolicyDepth = 8
	// PolicyVersion is the only policy language version accepted.
	PolicyVersion = "2012-10-17"
)

// ErrInvalidPolicy is wrapped by every error of ParsePolicy.
var ErrInvalidPolicy = errors.New("invalid policy")

// Policy is a parsed and validated policy document. It is immutable and
// safe for concurrent use.
type Policy struct {
	statements []statement
}

// statement is one validated Statement of a policy.
type statement struct {
	allow      bool
	actions    []string // lower-case patterns
	notActions []string // lower-case patterns
	resources  []string // patterns
	conditions []condition
}

// condition is one operator and key of a Condition block, such as
// IpAddress on aws:SourceIp or StringLike on s3:prefix.
type condition struct {
	op     string // "IpAddress", "NotIpAddress", "Bool" or a string operator
	nets   []netip.Prefix
	secure bool // the Bool value, for aws:SecureTransport
	// key and values are those of a string operator: the condition key
	// in lower case and the values (patterns, for the Like operators).
	key    string
	values []string
}

// stringKeys are the condition keys the string operators may test, in
// lower case: the request parameters of a listing that S3 names
// s3:prefix and s3:delimiter. ChecksFor sets them for the listings that
// carry them (see [Check]).
var stringKeys = []string{KeyPrefix, KeyDelimiter}

// The string condition keys (see Request.Keys).
const (
	KeyPrefix    = "s3:prefix"
	KeyDelimiter = "s3:delimiter"
)

// rawPolicy and rawStatement are the JSON shapes; unknown fields are
// refused.
type rawPolicy struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id"`
	Statement json.RawMessage `json:"Statement"`
}

type rawStatement struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Action       json.RawMessage                       `json:"Action"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	Resource     json.RawMessage                       `json:"Resource"`
	NotResource  json.RawMessage                       `json:"NotResource"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

// ParsePolicy parses and validates a policy document in the IAM JSON
// shape (see the package documentation for the subset understood). Every
// error wraps ErrInvalidPolicy and names what is wrong.
func ParsePolicy(doc []byte) (*Policy, error) {
	p, err := parsePolicy(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return p, nil
}

func parsePolicy(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicySize {
		return nil, fmt.Errorf("document is %d bytes, more than the limit of %d",
			len(doc), MaxPolicySize)
	}
	if err := checkDepth(doc); err != nil {
		return nil, err
	}
	var raw rawPolicy
	if err := decodeStrict(doc, &raw); err != nil {
		return nil, err
	}
	if raw.Version != PolicyVersion {
		return nil, fmt.Errorf("Version must be %q, not %q", PolicyVersion, raw.Version)
	}
	stmts, err := statementList(raw.Statement)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for i, rs := range stmts {
		st, err := compileStatement(rs)
		if err != nil {
			return nil, fmt.Errorf("Statement %d: %w", i+1, err)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

// checkDepth refuses documents nested deeper than MaxPolicyDepth before
// they are decoded.
func checkDepth(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > MaxPolicyDepth {
				return fmt.Errorf("nested deeper than %d levels", MaxPolicyDepth)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: data after the document")
	}
	return nil
}

// statementList accepts a list of statements or a single one.
func statementList(raw json.RawMessage) ([]rawStatement, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errors.New("Statement is missing")
	}
	if raw[0] == '{' {
		var st rawStatement
		if err := decodeStrict(raw, &st); err != nil {
			return nil, fmt.Errorf("Statement: %w", err)
		}
		return []rawStatement{st}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("Statement must be an object or a list of objects")
	}
	if len(list) == 0 {
		return nil, errors.New("Statement is empty")
	}
	out := make([]rawStatement, len(list))
	for i, item := range list {
		if err := decodeStrict(item, &out[i]); err != nil {
			return nil, fmt.Errorf("Statement %d: %w", i+1, err)
		}
	}
	return out, nil
}

func compileStatement(rs rawStatement) (statement, error) {
	var st statement
	switch {
	case rs.Principal != nil || rs.NotPrincipal != nil:
		return st, errors.New("Principal is not allowed: policies are attached to users and groups")
	case rs.NotResource != nil:
		return st, errors.New("NotResource is not supported")
	}
	switch rs.Effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, fmt.Errorf("Effect must be \"Allow\" or \"Deny\", not %q", rs.Effect)
	}
	var err error
	switch {
	case rs.Action != nil && rs.NotAction != nil:
		return st, errors.New("has both Action and NotAction")
	case rs.Action != nil:
		st.actions, err = actionPatterns("Action", rs.Action)
	case rs.NotAction != nil:
		st.notActions, err = actionPatterns("NotAction", rs.NotAction)
	default:
		return st, errors.New("needs Action or NotAction")
	}
	if err != nil {
		return st, err
	}
	if rs.Resource == nil {
		return st, errors.New("Resource is missing")
	}
	if st.resources, err = resourcePatterns(rs.Resource); err != nil {
		return st, err
	}
	st.conditions, err = compileConditions(rs.Condition)
	return st, err
}

// stringOrList decodes a JSON string or a non-empty list of strings.
func stringOrList(field string, raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s must be a string or a list of strings", field)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s is empty", field)
	}
	return list, nil
}

func actionPatterns(field string, raw json.RawMessage) ([]string, error) {
	list, err := stringOrList(field, raw)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		if err := checkAction(a); err != nil {
			return nil, fmt.Errorf("%s %q: %w", field, a, err)
		}
		out[i] = strings.ToLower(a)
	}
	return out, nil
}

// checkAction accepts "*", a known action, or a wildcard pattern that
// matches at least one known action.
func checkAction(a string) error {
	if a == "*" {
		return nil
	}
	service, name, ok := strings.Cut(a, ":")
	if !ok || name == "" {
		return errors.New(`must be "*" or "service:Action", such as "s3:GetObject"`)
	}
	service = strings.ToLower(service)
	if service != "s3" && service != "cloak" {
		return fmt.Errorf("unknown service %q (s3 and cloak are known)", service)
	}
	pattern := strings.ToLower(a)
	for _, known := range allActions() {
		if match(pattern, strings.ToLower(known)) {
			return nil
		}
	}
	if strings.ContainsAny(name, "*?") {
		return errors.New("matches no action Cloak knows")
	}
	return errors.New("is not an action Cloak knows")
}

func resourcePatterns(raw json.RawMessage) ([]string, error) {
	list, err := stringOrList("Resource", raw)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		switch {
		case strings.Contains(r, "${"):
			return nil, fmt.Errorf("Resource %q: policy variables are not supported", r)
		case r == "*":
		case strings.HasPrefix(r, s3ARNPrefix) && len(r) > len(s3ARNPrefix):
		case r == AdminResource:
		default:
			return nil, fmt.Errorf("Resource %q must be \"*\", %q or start with %q",
				r, AdminResource, s3ARNPrefix)
		}
	}
	return list, nil
}

// compileConditions validates a Condition block: IpAddress and
// NotIpAddress on aws:SourceIp, Bool on aws:SecureTransport, and
// StringEquals, StringNotEquals, StringLike and StringNotLike on
// s3:prefix and s3:delimiter.
func compileConditions(block map[string]map[string]json.RawMessage) ([]condition, error) {
	var out []condition
	for op, keys := range block {
		for key, raw := range keys {
			c, err := compileCondition(op, key, raw)
			if err != nil {
				return nil, fmt.Errorf("Condition %s %s: %w", op, key, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func compileCondition(op, key string, raw json.RawMessage) (condition, error) {
	c := condition{op: op}
	switch op {
	case "IpAddress", "NotIpAddress":
		if !strings.EqualFold(key, "aws:SourceIp") {
			return c, fmt.Errorf("only aws:SourceIp is supported with %s", op)
		}
		values, err := stringOrList("the value", raw)
		if err != nil {
			return c, err
		}
		for _, v := range values {
			n, err := parseNet(v)
			if err != nil {
				return c, err
			}
			c.nets = append(c.nets, n)
		}
	case "Bool":
		if !strings.EqualFold(key, "aws:SecureTransport") {
			return c, errors.New("only aws:SecureTransport is supported with Bool")
		}
		b, err := boolValue(raw)
		if err != nil {
			return c, err
		}
		c.secure = b
	case "StringEquals", "StringNotEquals", "StringLike", "StringNotLike":
		c.key = strings.ToLower(key)
		if !slices.Contains(stringKeys, c.key) {
			return c, fmt.Errorf("only %s are supported with %s",
				strings.Join(stringKeys, " and "), op)
		}
		values, err := stringOrList("the value", raw)
		if err != nil {
			return c, err
		}
		for _, v := range values {
			if strings.Contains(v, "${") {
				return c, fmt.Errorf("%q: policy variables are not supported", v)
			}
		}
		c.values = values
	default:
		return c, errors.New("unsupported operator (IpAddress, NotIpAddress, Bool, " +
			"StringEquals, StringNotEquals, StringLike and StringNotLike are supported)")
	}
	return c, nil
}

// parseNet parses a CIDR block or a single address (as a /32 or /128).
func parseNet(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR block", v)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", v)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// boolValue accepts true, false, "true" or "false", alone or as a list
// of one.
func boolValue(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	values, err := stringOrList("the value", raw)
	if err != nil || len(values) != 1 {
		return false, errors.New(`the value must be true or false`)
	}
	switch strings.ToLower(values[0]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", values[0])
}
