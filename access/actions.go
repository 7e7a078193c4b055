package access

import (
	"net/url"
	"slices"

	"github.com/cloakproxy/cloak/s3compat"
)

// The S3 actions Cloak checks, with IAM's names.
const (
	ActGetObject                  = "s3:GetObject"
	ActPutObject                  = "s3:PutObject"
	ActDeleteObject               = "s3:DeleteObject"
	ActListBucket                 = "s3:ListBucket"
	ActListAllMyBuckets           = "s3:ListAllMyBuckets"
	ActCreateBucket               = "s3:CreateBucket"
	ActDeleteBucket               = "s3:DeleteBucket"
	ActGetBucketLocation          = "s3:GetBucketLocation"
	ActListBucketMultipartUploads = "s3:ListBucketMultipartUploads"
	ActListMultipartUploadParts   = "s3:ListMultipartUploadParts"
	ActAbortMultipartUpload       = "s3:AbortMultipartUpload"
)

// The admin API's actions. Each administrative act needs one.
const (
	ActListUsers    = "cloak:ListUsers"
	ActCreateUser   = "cloak:CreateUser"
	ActDeleteUser   = "cloak:DeleteUser"
	ActUpdateUser   = "cloak:UpdateUser" // enable, disable
	ActRotateKey    = "cloak:RotateAccessKey"
	ActListGroups   = "cloak:ListGroups"
	ActCreateGroup  = "cloak:CreateGroup"
	ActDeleteGroup  = "cloak:DeleteGroup"
	ActUpdateGroup  = "cloak:UpdateGroup" // add and remove members
	ActListPolicies = "cloak:ListPolicies"
	ActCreatePolicy = "cloak:CreatePolicy"
	ActDeletePolicy = "cloak:DeletePolicy"
	ActAttachPolicy = "cloak:AttachPolicy"
	ActDetachPolicy = "cloak:DetachPolicy"
)

// AdminResource is the resource of every admin action.
const AdminResource = "arn:cloak:::admin"

const s3ARNPrefix = "arn:aws:s3:::"

// AllBucketsResource is the resource of ListAllMyBuckets.
const AllBucketsResource = s3ARNPrefix + "*"

func allActions() []string {
	return []string{ActGetObject, ActPutObject, ActDeleteObject, ActListBucket,
		ActListAllMyBuckets, ActCreateBucket, ActDeleteBucket, ActGetBucketLocation,
		ActListBucketMultipartUploads, ActListMultipartUploadParts, ActAbortMultipartUpload,
		ActListUsers, ActCreateUser, ActDeleteUser, ActUpdateUser, ActRotateKey,
		ActListGroups, ActCreateGroup, ActDeleteGroup, ActUpdateGroup, ActListPolicies,
		ActCreatePolicy, ActDeletePolicy, ActAttachPolicy, ActDetachPolicy}
}

// BucketARN is the ARN of a bucket.
func BucketARN(bucket string) string { return s3ARNPrefix + bucket }

// ObjectARN is the ARN of an object.
func ObjectARN(bucket, key string) string { return s3ARNPrefix + bucket + "/" + key }

// Check is one action on one resource that a request needs, with the
// string condition keys the request carries (see Request.Keys).
type Check struct {
	Action   string
	Resource string
	Keys     map[string]string
}

// listingKeys returns the condition keys of a listing: s3:prefix and
// s3:delimiter, each when the query has the parameter (an empty value
// counts, as "prefix=" does in S3).
func listingKeys(q url.Values) map[string]string {
	var keys map[string]string
	set := func(param, key string) {
		if !q.Has(param) {
			return
		}
		if keys == nil {
			keys = make(map[string]string, 2)
		}
		keys[key] = q.Get(param)
	}
	set("prefix", KeyPrefix)
	set("delimiter", KeyDelimiter)
	return keys
}

// ChecksFor returns what an S3 request needs to be allowed, all of it:
//
//   - ListBuckets: s3:ListAllMyBuckets on arn:aws:s3:::* (the listing
//     then shows only the buckets the user may s3:ListBucket, under some
//     prefix at least: see Request.AnyKeys);
//   - HeadBucket, ListObjects (V1, V2): s3:ListBucket on the bucket;
//   - GetObject, HeadObject: s3:GetObject on the object;
//   - PutObject, CreateMultipartUpload, UploadPart,
//     CompleteMultipartUpload: s3:PutObject on the object;
//   - CopyObject, UploadPartCopy: s3:GetObject on the source and
//     s3:PutObject on the destination;
//   - ListParts: s3:ListMultipartUploadParts on the object;
//   - ListMultipartUploads: s3:ListBucketMultipartUploads on the bucket;
//   - DeleteObject: s3:DeleteObject on the object; DeleteObjects needs
//     nothing for the request itself, and s3:DeleteObject for each key,
//     checked as each key is deleted (see DeleteCheck);
//   - the remaining bucket operations their own action on the bucket;
//   - the unsupported sub-resources the proxy answers with a fixed value
//     need the action that reveals as much: ?tagging of an object (an
//     empty tag set, or NoSuchKey) s3:GetObject on the object, and
//     ?versioning of a bucket (never enabled) s3:ListBucket on the bucket.
//
// Other unsupported operations (answered NotImplemented) need nothing.
func ChecksFor(r s3compat.Request) []Check {
	bucket, object := BucketARN(r.Bucket), ObjectARN(r.Bucket, r.Key)
	switch r.Op {
	case s3compat.OpListBuckets:
		return []Check{{Action: ActListAllMyBuckets, Resource: AllBucketsResource}}
	case s3compat.OpHeadBucket:
		return []Check{{Action: ActListBucket, Resource: bucket}}
	case s3compat.OpListObjects, s3compat.OpListObjectsV2, s3compat.OpListObjectVersions:
		return []Check{{Action: ActListBucket, Resource: bucket, Keys: listingKeys(r.Query)}}
	case s3compat.OpCreateBucket:
		return []Check{{Action: ActCreateBucket, Resource: bucket}}
	case s3compat.OpDeleteBucket:
		return []Check{{Action: ActDeleteBucket, Resource: bucket}}
	case s3compat.OpGetBucketLocation:
		return []Check{{Action: ActGetBucketLocation, Resource: bucket}}
	case s3compat.OpListMultipartUploads:
		return []Check{{Action: ActListBucketMultipartUploads, Resource: bucket,
			Keys: listingKeys(r.Query)}}
	case s3compat.OpGetObject, s3compat.OpHeadObject:
		return []Check{{Action: ActGetObject, Resource: object}}
	case s3compat.OpPutObject, s3compat.OpCreateMultipartUpload, s3compat.OpUploadPart,
		s3compat.OpCompleteMultipartUpload:
		return []Check{{Action: ActPutObject, Resource: object}}
	case s3compat.OpCopyObject, s3compat.OpUploadPartCopy:
		checks := []Check{{Action: ActPutObject, Resource: object}}
		if cs := r.CopySource; cs != nil {
			checks = append(checks,
				Check{Action: ActGetObject, Resource: ObjectARN(cs.Bucket, cs.Key)})
		}
		return checks
	case s3compat.OpAbortMultipartUpload:
		return []Check{{Action: ActAbortMultipartUpload, Resource: object}}
	case s3compat.OpListParts:
		return []Check{{Action: ActListMultipartUploadParts, Resource: object}}
	case s3compat.OpDeleteObject:
		return []Check{{Action: ActDeleteObject, Resource: object}}
	case s3compat.OpUnsupported:
		switch {
		case r.Subresource == "tagging" && r.Key != "":
			return []Check{{Action: ActGetObject, Resource: object}}
		case r.Subresource == "versioning" && r.Key == "":
			return []Check{{Action: ActListBucket, Resource: bucket}}
		}
	}
	return nil
}

// DeleteCheck is what deleting one key of a DeleteObjects request needs.
func DeleteCheck(bucket, key string) Check {
	return Check{Action: ActDeleteObject, Resource: ObjectARN(bucket, key)}
}

// BuiltinPolicies are the names of the policies every Cloak has. They
// cannot be replaced or removed.
var BuiltinPolicies = []string{"admin", "readonly", "readwrite", "writeonly"}

// builtinDocs are the built-in policies' documents.
var builtinDocs = map[string]string{
	// admin may do everything, the admin API included.
	"admin": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	// readonly reads and lists every bucket.
	"readonly": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket",
			"s3:ListAllMyBuckets","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::*"}]}`,
	// readwrite may do every S3 operation on every bucket, and nothing
	// in the admin API.
	"readwrite": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}]}`,
	// writeonly is for backup jobs: it writes objects (single and
	// multipart, and may abort and list its uploads) and lists buckets
	// and keys, so that sync tools can tell what is there, but reads no
	// object (GET and HEAD) and deletes nothing. A PUT may still replace
	// an object: S3 has no separate action for overwriting.
	"writeonly": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload",
			"s3:ListMultipartUploadParts","s3:ListBucketMultipartUploads","s3:ListBucket",
			"s3:ListAllMyBuckets","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::*"}]}`,
}

// builtins holds the parsed built-in policies.
var builtins = func() map[string]*Policy {
	m := map[string]*Policy{}
	for name, doc := range builtinDocs {
		p, err := ParsePolicy([]byte(doc))
		if err != nil {
			panic("access: built-in policy " + name + ": " + err.Error())
		}
		m[name] = p
	}
	return m
}()

// BuiltinDocument returns the document of a built-in policy.
func BuiltinDocument(name string) (string, bool) {
	d, ok := builtinDocs[name]
	return d, ok
}

// IsBuiltin reports whether name is a built-in policy.
func IsBuiltin(name string) bool { return slices.Contains(BuiltinPolicies, name) }
