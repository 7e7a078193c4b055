package access

import (
	"slices"
	"testing"

	"github.com/cloakproxy/cloak/s3compat"
)

func TestChecksFor(t *testing.T) {
	bucket, object := BucketARN("b"), ObjectARN("b", "dir/k")
	copySrc := &s3compat.CopySource{Bucket: "src", Key: "x/y"}
	tests := []struct {
		op   s3compat.Op
		want []Check
	}{
		{s3compat.OpListBuckets, []Check{{ActListAllMyBuckets, AllBucketsResource}}},
		{s3compat.OpCreateBucket, []Check{{ActCreateBucket, bucket}}},
		{s3compat.OpDeleteBucket, []Check{{ActDeleteBucket, bucket}}},
		{s3compat.OpHeadBucket, []Check{{ActListBucket, bucket}}},
		{s3compat.OpGetBucketLocation, []Check{{ActGetBucketLocation, bucket}}},
		{s3compat.OpListObjects, []Check{{ActListBucket, bucket}}},
		{s3compat.OpListObjectsV2, []Check{{ActListBucket, bucket}}},
		{s3compat.OpListMultipartUploads, []Check{{ActListBucketMultipartUploads, bucket}}},
		{s3compat.OpGetObject, []Check{{ActGetObject, object}}},
		{s3compat.OpHeadObject, []Check{{ActGetObject, object}}},
		{s3compat.OpPutObject, []Check{{ActPutObject, object}}},
		{s3compat.OpDeleteObject, []Check{{ActDeleteObject, object}}},
		{s3compat.OpDeleteObjects, nil},
		{s3compat.OpCreateMultipartUpload, []Check{{ActPutObject, object}}},
		{s3compat.OpUploadPart, []Check{{ActPutObject, object}}},
		{s3compat.OpCompleteMultipartUpload, []Check{{ActPutObject, object}}},
		{s3compat.OpAbortMultipartUpload, []Check{{ActAbortMultipartUpload, object}}},
		{s3compat.OpListParts, []Check{{ActListMultipartUploadParts, object}}},
		{s3compat.OpCopyObject,
			[]Check{{ActPutObject, object}, {ActGetObject, ObjectARN("src", "x/y")}}},
		{s3compat.OpUploadPartCopy,
			[]Check{{ActPutObject, object}, {ActGetObject, ObjectARN("src", "x/y")}}},
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
			if got := ChecksFor(r); !slices.Equal(got, tt.want) {
				t.Errorf("ChecksFor = %v, want %v", got, tt.want)
			}
		})
	}
}
