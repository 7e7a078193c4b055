package access

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/cloakproxy/cloak/s3compat"
)

// chk is a Check without condition keys.
func chk(action, resource string) Check { return Check{Action: action, Resource: resource} }

func TestChecksFor(t *testing.T) {
	bucket, object := BucketARN("b"), ObjectARN("b", "dir/k")
	copySrc := &s3compat.CopySource{Bucket: "src", Key: "x/y"}
	tests := []struct {
		op   s3compat.Op
		want []Check
	}{
		{s3compat.OpListBuckets, []Check{chk(ActListAllMyBuckets, AllBucketsResource)}},
		{s3compat.OpCreateBucket, []Check{chk(ActCreateBucket, bucket)}},
		{s3compat.OpDeleteBucket, []Check{chk(ActDeleteBucket, bucket)}},
		{s3compat.OpHeadBucket, []Check{chk(ActListBucket, bucket)}},
		{s3compat.OpGetBucketLocation, []Check{chk(ActGetBucketLocation, bucket)}},
		{s3compat.OpListObjects, []Check{chk(ActListBucket, bucket)}},
		{s3compat.OpListObjectsV2, []Check{chk(ActListBucket, bucket)}},
		{s3compat.OpListMultipartUploads, []Check{chk(ActListBucketMultipartUploads, bucket)}},
		{s3compat.OpGetObject, []Check{chk(ActGetObject, object)}},
		{s3compat.OpHeadObject, []Check{chk(ActGetObject, object)}},
		{s3compat.OpPutObject, []Check{chk(ActPutObject, object)}},
		{s3compat.OpDeleteObject, []Check{chk(ActDeleteObject, object)}},
		{s3compat.OpDeleteObjects, nil},
		{s3compat.OpCreateMultipartUpload, []Check{chk(ActPutObject, object)}},
		{s3compat.OpUploadPart, []Check{chk(ActPutObject, object)}},
		{s3compat.OpCompleteMultipartUpload, []Check{chk(ActPutObject, object)}},
		{s3compat.OpAbortMultipartUpload, []Check{chk(ActAbortMultipartUpload, object)}},
		{s3compat.OpListParts, []Check{chk(ActListMultipartUploadParts, object)}},
		{s3compat.OpCopyObject,
			[]Check{chk(ActPutObject, object), chk(ActGetObject, ObjectARN("src", "x/y"))}},
		{s3compat.OpUploadPartCopy,
			[]Check{chk(ActPutObject, object), chk(ActGetObject, ObjectARN("src", "x/y"))}},
		{s3compat.OpUnsupported, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			r := s3compat.Request{Op: tt.op, Bucket: "b", Key: "dir/k"}
			if tt.op == s3compat.OpCopyObject || tt.op == s3compat.OpUploadPartCopy {
				r.CopySource = copySrc
			}
			if tt.op == s3compat.OpListBuckets {
				r.Bucket, r.Key = "", ""
			}
			if got := ChecksFor(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ChecksFor = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestChecksFor_ListingKeys: listings carry s3:prefix and s3:delimiter
// when their query has them, an empty value included; nothing else does.
func TestChecksFor_ListingKeys(t *testing.T) {
	tests := []struct {
		op    s3compat.Op
		query string
		want  map[string]string
	}{
		{s3compat.OpListObjectsV2, "list-type=2&prefix=matters%2Facme%2F&delimiter=%2F",
			map[string]string{KeyPrefix: "matters/acme/", KeyDelimiter: "/"}},
		{s3compat.OpListObjects, "prefix=", map[string]string{KeyPrefix: ""}},
		{s3compat.OpListObjectVersions, "versions&delimiter=%2F",
			map[string]string{KeyDelimiter: "/"}},
		{s3compat.OpListMultipartUploads, "uploads&prefix=a", map[string]string{KeyPrefix: "a"}},
		{s3compat.OpListObjectsV2, "list-type=2", nil},
		{s3compat.OpHeadBucket, "prefix=a", nil},
		{s3compat.OpGetObject, "prefix=a", nil},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got := ChecksFor(s3compat.Request{Op: tt.op, Bucket: "b", Key: "k", Query: q})
		if len(got) != 1 || !reflect.DeepEqual(got[0].Keys, tt.want) {
			t.Errorf("%s?%s: %+v, want keys %v", tt.op, tt.query, got, tt.want)
		}
	}
}
