package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestClients_Boto3 runs testdata/boto3_transfer.py with Debian's python3
// and boto3: upload_file and download_file through the transfer manager
// (multipart and ranged, four threads), and a PUT through a presigned URL
// sent with urllib. The URL must be presigned with Signature V4
// (botocore's signature_version "s3v4"): Cloak refuses V2, which this
// boto3 uses for presigned URLs by default.
func TestClients_Boto3(t *testing.T) {
	py := requirePython(t)
	script, err := filepath.Abs("testdata/boto3_transfer.py")
	if err != nil {
		t.Fatal(err)
	}
	forEachClientBackend(t, func(t *testing.T, c *clientEnv) {
		big, small := filepath.Join(c.dir, "big"), filepath.Join(c.dir, "small")
		const bigSize = 40<<20 + 12345
		writeGenFile(t, big, "boto3 big", bigSize)
		writeGenFile(t, small, "boto3 small", 3000)
		down := filepath.Join(c.dir, "big.down")
		out := c.run(t, []string{
			"AWS_ACCESS_KEY_ID=" + testAccess,
			"AWS_SECRET_ACCESS_KEY=" + testSecret,
			"AWS_DEFAULT_REGION=" + c.region,
			"AWS_CONFIG_FILE=" + filepath.Join(c.home, "aws-config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(c.home, "aws-credentials"),
			"AWS_EC2_METADATA_DISABLED=true",
		}, py, script, c.endpoint, c.caFile, "boto3", big, down, small)
		var res struct {
			BigETag              string `json:"big_etag"`
			BigLength            int64  `json:"big_length"`
			DefaultPresignV4     bool   `json:"default_presign_v4"`
			DefaultPresignStatus int    `json:"default_presign_status"`
			DefaultPresignBody   string `json:"default_presign_body"`
			PresignedPutStatus   int    `json:"presigned_put_status"`
			PresignedPutETag     string `json:"presigned_put_etag"`
			PresignedGetSame     bool   `json:"presigned_get_same"`
			PresignedGetDisp     string `json:"presigned_get_disposition"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("script output %q: %v", out, err)
		}
		t.Logf("boto3 saw %+v", res)
		assertSameFile(t, down, big)
		if want := wantCLIETag(t, big, 8<<20); res.BigETag != want || res.BigLength != bigSize {
			t.Errorf("head of the upload: ETag %s, %d bytes; want %s, %d",
				res.BigETag, res.BigLength, want, bigSize)
		}
		if want := wantCLIETag(t, small, 8<<20); res.PresignedPutStatus != 200 || res.PresignedPutETag != want {
			t.Errorf("presigned PUT: %d, ETag %s; want 200, %s", res.PresignedPutStatus, res.PresignedPutETag, want)
		}
		// boto3 1.26 presigns with Signature V2 by default; Cloak refuses
		// it as S3 does in regions that accept only V4.
		if !res.DefaultPresignV4 && (res.DefaultPresignStatus != 400 ||
			!strings.Contains(res.DefaultPresignBody, "<Code>InvalidRequest</Code>")) {
			t.Errorf("presigned PUT with Signature V2: %d\n%s, want 400 InvalidRequest",
				res.DefaultPresignStatus, res.DefaultPresignBody)
		}
		if !res.PresignedGetSame || res.PresignedGetDisp != `attachment; filename="Acme v. Smith.pdf"` {
			t.Errorf("presigned GET with response-content-disposition: same body %v, header %q",
				res.PresignedGetSame, res.PresignedGetDisp)
		}
		got := filepath.Join(c.dir, "presigned.down")
		writeObject(t, c.env, "boto3", "presigned", got)
		assertSameFile(t, got, small)
		if n := assertBucketCiphertext(t, c.env, "boto3"); n != 2 {
			t.Fatalf("checked %d stored objects, want 2", n)
		}
	})
}

// writeObject reads an object through Cloak with the Go SDK into a file.
func writeObject(t *testing.T, e *env, bucket, key, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := e.aws.GetObject(context.Background(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	if _, err := f.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
}
