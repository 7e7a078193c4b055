"""boto3 against Cloak, for integration/clients_boto3_test.go.

Usage: boto3_transfer.py ENDPOINT CA_FILE BUCKET BIG_FILE BIG_DOWNLOAD SMALL_FILE

Credentials and region come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION). The script creates BUCKET,
uploads BIG_FILE with the transfer manager (multipart, several threads) as
"big", downloads it again to BIG_DOWNLOAD (ranged GETs, several threads),
and PUTs SMALL_FILE as "presigned" through presigned URLs with urllib and
no credentials: first one presigned with boto3's default signature version,
then one with Signature V4; and GETs it back through a presigned URL that
sets Content-Disposition. It prints one JSON line with what it saw; the Go test
compares the bytes.
"""

import json
import ssl
import sys
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1 << 20


def main():
    endpoint, ca_file, bucket, big, big_down, small = sys.argv[1:7]
    s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca_file)
    s3.create_bucket(Bucket=bucket)

    transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB,
                              max_concurrency=4, use_threads=True)
    s3.upload_file(big, bucket, "big", Config=transfer)
    head = s3.head_object(Bucket=bucket, Key="big")
    s3.download_file(bucket, "big", big_down, Config=transfer)

    with open(small, "rb") as f:
        body = f.read()
    ctx = ssl.create_default_context(cafile=ca_file)

    # This boto3 presigns S3 URLs with Signature V2 unless told otherwise;
    # Cloak accepts only V4 and must refuse V2 with S3's InvalidRequest.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"},
                                    ExpiresIn=300)
    default_v4 = "X-Amz-Signature=" in url
    default_status, default_body, _ = presigned_put(url, body, ctx)

    v4 = boto3.client("s3", endpoint_url=endpoint, verify=ca_file,
                      config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"},
                                    ExpiresIn=300)
    put_status, put_body, put_etag = presigned_put(url, body, ctx)
    if put_status != 200:
        sys.exit("presigned PUT to %s: %d\n%s" % (url, put_status, put_body))

    # A presigned download link that names the file, as document tools
    # make them: the body is the object, the header the one asked for.
    url = v4.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "presigned",
        "ResponseContentDisposition": 'attachment; filename="Acme v. Smith.pdf"'})
    with urllib.request.urlopen(url, context=ctx, timeout=60) as resp:
        get_same = resp.read() == body
        get_disposition = resp.headers.get("Content-Disposition")

    print(json.dumps({
        "big_etag": head["ETag"],
        "big_length": head["ContentLength"],
        "default_presign_v4": default_v4,
        "default_presign_status": default_status,
        "default_presign_body": default_body,
        "presigned_put_status": put_status,
        "presigned_put_etag": put_etag,
        "presigned_get_same": get_same,
        "presigned_get_disposition": get_disposition,
    }))


def presigned_put(url, body, ctx):
    """PUTs body to a presigned URL without credentials; returns the
    status, the error body if any, and the ETag."""
    req = urllib.request.Request(url, data=body, method="PUT")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return resp.status, "", resp.headers.get("ETag")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), None


if __name__ == "__main__":
    main()
