package access

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func mustPolicy(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

const (
	allowReadAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::*"}]}`
	denySecret = `{"Version":"2012-10-17","Statement":{"Effect":"Deny",
		"Action":"s3:*","Resource":"arn:aws:s3:::docs/secret/*"}}`
	prefixOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Action":"s3:Get*","Resource":"arn:aws:s3:::docs/team-?/*"}]}`
	notDelete = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"NotAction":["s3:DeleteObject","s3:DeleteBucket"],"Resource":"*"}]}`
	fromNets = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}]}`
	denyOutsideNets = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"},
		{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*",
			"Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.7"}}}]}`
	tlsOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`
	// listAcme lets a user list one matter's folder of a bucket (and the
	// bucket's top level, one level at a time), as a law firm gives a
	// team its matters: StringLike and StringEquals on s3:prefix.
	listAcme = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::matters",
			"Condition":{"StringLike":{"s3:prefix":["acme/*","acme"]}}},
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::matters",
			"Condition":{"StringEquals":{"s3:prefix":"","s3:delimiter":"/"}}}]}`
	listFromNets = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::matters",
			"Condition":{"StringLike":{"s3:prefix":"acme/*"},
				"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
	denySecretBucket = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Action":"s3:ListBucket","Resource":"arn:aws:s3:::matters"}]}`
	// denyListOutside denies listing anything but one folder.
	denyListOutside = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Effect":"Deny","Action":"s3:ListBucket","Resource":"arn:aws:s3:::matters",
			"Condition":{"StringNotLike":{"s3:prefix":"acme/*"}}}]}`
)

func TestEvaluate(t *testing.T) {
	v4in, v4out := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("11.1.2.3")
	v6in, v6out := netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("2001:db9::5")
	obj := func(action, bucket, key string) Request {
		return Request{Action: action, Resource: ObjectARN(bucket, key)}
	}
	list := func(bucket, prefix, delimiter string) Request {
		keys := map[string]string{KeyPrefix: prefix}
		if delimiter != "" {
			keys[KeyDelimiter] = delimiter
		}
		return Request{Action: ActListBucket, Resource: BucketARN(bucket), Keys: keys}
	}
	anyKeys := func(bucket string) Request {
		return Request{Action: ActListBucket, Resource: BucketARN(bucket), AnyKeys: true}
	}
	with := func(r Request, ip netip.Addr, secure bool) Request {
		r.SourceIP, r.Secure = ip, secure
		return r
	}
	tests := []struct {
		name     string
		policies []string
		req      Request
		want     Decision
	}{
		{"nothing allowed by default", nil, obj(ActGetObject, "b", "k"), NotAllowed},
		{"empty policy set for admin action", nil,
			Request{Action: ActCreateUser, Resource: AdminResource}, NotAllowed},
		{"allow matches", []string{allowReadAll}, obj(ActGetObject, "b", "k"), Allowed},
		{"action not in list", []string{allowReadAll}, obj(ActPutObject, "b", "k"), NotAllowed},
		{"action names ignore case", []string{allowReadAll},
			obj("S3:getobject", "b", "k"), Allowed},
		{"bucket action on bucket ARN", []string{allowReadAll},
			Request{Action: ActListBucket, Resource: BucketARN("b")}, Allowed},
		{"deny overrides allow", []string{allowReadAll, denySecret},
			obj(ActGetObject, "docs", "secret/plan.pdf"), Denied},
		{"deny elsewhere leaves allow", []string{allowReadAll, denySecret},
			obj(ActGetObject, "docs", "public/plan.pdf"), Allowed},
		{"action wildcard s3:Get*", []string{prefixOnly},
			obj(ActGetObject, "docs", "team-a/x"), Allowed},
		{"resource ? wildcard", []string{prefixOnly},
			obj(ActGetObject, "docs", "team-ab/x"), NotAllowed},
		{"outside the prefix", []string{prefixOnly},
			obj(ActGetObject, "docs", "other/x"), NotAllowed},
		{"prefix of another bucket", []string{prefixOnly},
			obj(ActGetObject, "docs2", "team-a/x"), NotAllowed},
		{"wildcard action not matching", []string{prefixOnly},
			obj(ActPutObject, "docs", "team-a/x"), NotAllowed},
		{"NotAction allows the rest", []string{notDelete},
			obj(ActPutObject, "b", "k"), Allowed},
		{"NotAction excludes its actions", []string{notDelete},
			obj(ActDeleteObject, "b", "k"), NotAllowed},
		{"NotAction with Resource * covers admin", []string{notDelete},
			Request{Action: ActCreateUser, Resource: AdminResource}, Allowed},
		{"SourceIp v4 inside", []string{fromNets},
			with(obj(ActGetObject, "b", "k"), v4in, false), Allowed},
		{"SourceIp v4 outside", []string{fromNets},
			with(obj(ActGetObject, "b", "k"), v4out, false), NotAllowed},
		{"SourceIp v6 inside", []string{fromNets},
			with(obj(ActGetObject, "b", "k"), v6in, false), Allowed},
		{"SourceIp v6 outside", []string{fromNets},
			with(obj(ActGetObject, "b", "k"), v6out, false), NotAllowed},
		{"SourceIp v4-mapped v6 inside", []string{fromNets},
			with(obj(ActGetObject, "b", "k"), netip.MustParseAddr("::ffff:10.9.9.9"), false),
			Allowed},
		{"SourceIp unknown", []string{fromNets}, obj(ActGetObject, "b", "k"), NotAllowed},
		{"NotIpAddress deny from elsewhere", []string{denyOutsideNets},
			with(obj(ActPutObject, "b", "k"), v4in, false), Denied},
		{"NotIpAddress deny spares the address", []string{denyOutsideNets},
			with(obj(ActPutObject, "b", "k"), netip.MustParseAddr("192.0.2.7"), false), Allowed},
		{"SecureTransport over TLS", []string{tlsOnly},
			with(obj(ActGetObject, "b", "k"), v4in, true), Allowed},
		{"SecureTransport over plain HTTP", []string{tlsOnly},
			with(obj(ActGetObject, "b", "k"), v4in, false), NotAllowed},
		{"builtin readonly reads", []string{builtinDocs["readonly"]},
			obj(ActGetObject, "b", "k"), Allowed},
		{"builtin readonly cannot write", []string{builtinDocs["readonly"]},
			obj(ActPutObject, "b", "k"), NotAllowed},
		{"builtin writeonly cannot read", []string{builtinDocs["writeonly"]},
			obj(ActGetObject, "b", "k"), NotAllowed},
		{"builtin writeonly cannot delete", []string{builtinDocs["writeonly"]},
			obj(ActDeleteObject, "b", "k"), NotAllowed},
		{"builtin writeonly writes", []string{builtinDocs["writeonly"]},
			obj(ActPutObject, "b", "k"), Allowed},
		{"builtin readwrite has no admin API", []string{builtinDocs["readwrite"]},
			Request{Action: ActCreateUser, Resource: AdminResource}, NotAllowed},
		{"builtin admin has the admin API", []string{builtinDocs["admin"]},
			Request{Action: ActCreateUser, Resource: AdminResource}, Allowed},
		{"s3:prefix StringLike inside", []string{listAcme},
			list("matters", "acme/2026/", ""), Allowed},
		{"s3:prefix StringLike the folder itself", []string{listAcme},
			list("matters", "acme", ""), Allowed},
		{"s3:prefix StringLike outside", []string{listAcme},
			list("matters", "globex/", ""), NotAllowed},
		{"s3:prefix StringLike is case-sensitive", []string{listAcme},
			list("matters", "ACME/", ""), NotAllowed},
		{"s3:prefix absent", []string{listAcme},
			Request{Action: ActListBucket, Resource: BucketARN("matters")}, NotAllowed},
		{"s3:prefix other bucket", []string{listAcme}, list("other", "acme/", ""), NotAllowed},
		{"top level with delimiter", []string{listAcme}, list("matters", "", "/"), Allowed},
		{"top level without delimiter", []string{listAcme}, list("matters", "", "-"), NotAllowed},
		{"StringNotLike denies outside", []string{denyListOutside},
			list("matters", "globex/", ""), Denied},
		{"StringNotLike spares inside", []string{denyListOutside},
			list("matters", "acme/x", ""), Allowed},
		{"StringNotLike denies an absent prefix", []string{denyListOutside},
			Request{Action: ActListBucket, Resource: BucketARN("matters")}, Denied},
		{"some prefix may be listed", []string{listAcme},
			anyKeys("matters"), Allowed},
		{"some prefix, other bucket", []string{listAcme},
			anyKeys("other"), NotAllowed},
		{"some prefix despite a Deny on others", []string{denyListOutside},
			anyKeys("matters"), Allowed},
		{"some prefix, other conditions still hold", []string{listFromNets},
			anyKeys("matters"), NotAllowed},
		{"some prefix, other conditions met", []string{listFromNets},
			Request{Action: ActListBucket, Resource: BucketARN("matters"), AnyKeys: true,
				SourceIP: v4in}, Allowed},
		{"some prefix, an unconditional Deny wins", []string{listAcme, denySecretBucket},
			anyKeys("matters"), Denied},
		{"ListAllMyBuckets needs its resource", []string{builtinDocs["readonly"]},
			Request{Action: ActListAllMyBuckets, Resource: AllBucketsResource}, Allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []*Policy
			for _, d := range tt.policies {
				ps = append(ps, mustPolicy(t, d))
			}
			if got := Evaluate(ps, tt.req); got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	deep := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",` +
		`"Condition":{"Bool":{"aws:SecureTransport":[[[["true"]]]]}}}]}`
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"Version":`, "malformed JSON"},
		{"trailing data", `{"Version":"2012-10-17","Statement":[]} {}`, "data after"},
		{"oversized", `{"Version":"2012-10-17","Sid":"` + strings.Repeat("a", MaxPolicySize) + `"}`,
			"more than the limit"},
		{"deeply nested", deep, "nested deeper"},
		{"very deeply nested", strings.Repeat("[", 10_000), "nested deeper"},
		{"wrong version", `{"Version":"2008-10-17","Statement":[]}`, "Version must be"},
		{"no statement", `{"Version":"2012-10-17"}`, "Statement is missing"},
		{"empty statement list", `{"Version":"2012-10-17","Statement":[]}`, "Statement is empty"},
		{"unknown field", `{"Version":"2012-10-17","Statement":[],"Extra":1}`, "unknown field"},
		{"unknown statement field", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*","Actions":"*"}}`, `unknown field "Actions"`},
		{"bad effect", `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*",
			"Resource":"*"}}`, "Effect must be"},
		{"unknown action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"s3:GetObjekt","Resource":"*"}}`, `"s3:GetObjekt": is not an action`},
		{"wildcard matching nothing", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"s3:Frob*","Resource":"*"}}`, "matches no action"},
		{"unknown service", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"ec2:*","Resource":"*"}}`, "unknown service"},
		{"both Action and NotAction", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","NotAction":"s3:GetObject","Resource":"*"}}`, "both Action and NotAction"},
		{"no action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}`,
			"needs Action or NotAction"},
		{"no resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}`,
			"Resource is missing"},
		{"foreign resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*",
			"Resource":"arn:aws:ec2:::x"}}`, "must be"},
		{"policy variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*",
			"Resource":"arn:aws:s3:::b/${aws:username}/*"}}`, "policy variables"},
		{"principal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*",
			"Resource":"*","Principal":"*"}}`, "Principal is not allowed"},
		{"unsupported operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*",
			"Condition":{"StringEqualsIgnoreCase":{"s3:prefix":"a/"}}}}`,
			"unsupported operator"},
		{"unsupported string key", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*","Condition":{"StringLike":{"aws:UserAgent":"aws-cli*"}}}}`,
			"only s3:prefix and s3:delimiter"},
		{"variable in a string condition", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*",
			"Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}}`,
			"policy variables"},
		{"string condition value not a string", `{"Version":"2012-10-17",
			"Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*","Condition":{"StringEquals":{"s3:prefix":{"a":1}}}}}`,
			"the value"},
		{"unsupported key", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:UserAgent":"x"}}}}`,
			"only aws:SourceIp"},
		{"bad CIDR", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*",
			"Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`,
			"not a CIDR block"},
		{"bad bool", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*",
			"Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}`,
			"is not true or false"},
		{"action not a string", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
			"Action":7,"Resource":"*"}}`, "Action must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.doc))
			if err == nil {
				t.Fatal("ParsePolicy accepted the document")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true},
		{"a*c", "abbb", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*b*", "aaabaaa", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxcyyb", false},
		{"abc", "abcd", false}, {"**", "x", true},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, d := range []string{allowReadAll, denySecret, prefixOnly, notDelete, fromNets,
		denyOutsideNets, tlsOnly, builtinDocs["writeonly"], `{"Statement":[[[[`} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		if len(doc) > MaxPolicySize {
			t.Fatalf("accepted a document of %d bytes", len(doc))
		}
		// Evaluating any accepted policy must not panic.
		Evaluate([]*Policy{p}, Request{Action: ActGetObject, Resource: ObjectARN("b", "k"),
			SourceIP: netip.MustParseAddr("10.0.0.1")})
	})
}

// TestSecurityDocExample parses the example policy of docs/SECURITY.md
// and checks that it does what the text says of it.
func TestSecurityDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "An example: a matter team")
	if start < 0 {
		t.Fatal("the example is gone from SECURITY.md")
	}
	text = text[start:]
	open, end := strings.Index(text, "\n    {\n"), strings.Index(text, "\n    }\n")
	if open < 0 || end < open {
		t.Fatal("the example policy is not an indented block")
	}
	p := mustPolicy(t, text[open+1:end+6])
	office := netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		req  Request
		want Decision
	}{
		{Request{Action: ActGetObject, Resource: ObjectARN("matters", "2024-017/brief.pdf"),
			SourceIP: office, Secure: true}, Allowed},
		{Request{Action: ActGetObject, Resource: ObjectARN("matters", "2024-017/brief.pdf"),
			SourceIP: office}, NotAllowed},
		{Request{Action: ActGetObject, Resource: ObjectARN("matters", "2023-001/brief.pdf"),
			SourceIP: office, Secure: true}, NotAllowed},
		{Request{Action: ActListBucket, Resource: BucketARN("matters"),
			Keys: map[string]string{KeyPrefix: "2024-017/", KeyDelimiter: "/"}}, Allowed},
		{Request{Action: ActListBucket, Resource: BucketARN("matters"),
			Keys: map[string]string{KeyPrefix: "", KeyDelimiter: "/"}}, NotAllowed},
		{Request{Action: ActDeleteObject, Resource: ObjectARN("matters", "2024-017/brief.pdf"),
			SourceIP: office, Secure: true}, Denied},
	}
	for i, tt := range tests {
		if got := Evaluate([]*Policy{p}, tt.req); got != tt.want {
			t.Errorf("case %d (%s %s): %v, want %v", i, tt.req.Action, tt.req.Resource,
				got, tt.want)
		}
	}
}
