#!/bin/sh
# capture.sh re-records testdata/captured from the real command-line
# clients: Debian's awscli v2 (/usr/bin/aws), s3cmd, rclone and
# python3-boto3 (and a newer boto3 from python3 on PATH, if any).
# Run from this directory; it needs the Go toolchain and those packages.
set -eu
H=127.0.0.1:9100
S=127.0.0.1:9101
AK=AKIDCAPTUREEXAMPLE
SK='capture/Secret+Key/0123456789abcdefEXAMPLE'
OUT=captured
TMP=$(mktemp -d)
rm -rf "$OUT"; mkdir -p "$OUT"
go build -o "$TMP/capture" capture.go
"$TMP/capture" -out "$OUT" -http $H -https $S -cert "$TMP/cert.pem" \
	-client-file "$TMP/client" -for 5m &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
i=0
until curl -s -o /dev/null http://$H/ready; do
	i=$((i+1)); [ $i -lt 300 ] || { echo "capture server did not start"; exit 1; }
	sleep 0.2
done
rm -f "$OUT"/*  # drop the readiness probe
printf 'hello, capture\n' > "$TMP/small.txt"
head -c 300000 /dev/urandom > "$TMP/big.bin"
client() { echo "$1" > "$TMP/client"; }

export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
unset AWS_CA_BUNDLE AWS_PROFILE || true
client awscli
/usr/bin/aws --endpoint-url http://$H s3 cp "$TMP/small.txt" s3://bucket/dir/small.txt
/usr/bin/aws --endpoint-url http://$H s3 cp s3://bucket/dir/small.txt - >/dev/null
/usr/bin/aws --endpoint-url http://$H s3api put-object --bucket bucket \
	--key 'odd key+plus&amp=.txt' --body "$TMP/small.txt" >/dev/null
/usr/bin/aws --endpoint-url http://$H s3api delete-object --bucket bucket --key 'odd key+plus&amp=.txt'
/usr/bin/aws --endpoint-url https://$S --ca-bundle "$TMP/cert.pem" s3api put-object \
	--bucket bucket --key trailer.bin --body "$TMP/big.bin" --checksum-algorithm CRC32 >/dev/null
client awscli-presign
URL=$(/usr/bin/aws --endpoint-url http://$H s3 presign s3://bucket/dir/small.txt --expires-in 600)
curl -s -o /dev/null "$URL"

client s3cmd
cat > "$TMP/s3cfg" <<CFG
[default]
access_key = $AK
secret_key = $SK
host_base = $H
host_bucket = $H
use_https = False
signature_v2 = False
bucket_location = us-east-1
CFG
s3cmd -c "$TMP/s3cfg" put "$TMP/small.txt" s3://bucket/s3cmd/small.txt >/dev/null
s3cmd -c "$TMP/s3cfg" get --force s3://bucket/s3cmd/small.txt "$TMP/got.txt" >/dev/null
client s3cmd-presign
URL=$(s3cmd -c "$TMP/s3cfg" signurl s3://bucket/s3cmd/small.txt +600)
curl -s -o /dev/null "$URL" || true

client rclone
(
	unset AWS_CA_BUNDLE
	export RCLONE_CONFIG_CAP_TYPE=s3 RCLONE_CONFIG_CAP_PROVIDER=Other \
		RCLONE_CONFIG_CAP_ACCESS_KEY_ID=$AK RCLONE_CONFIG_CAP_SECRET_ACCESS_KEY=$SK \
		RCLONE_CONFIG_CAP_ENDPOINT=http://$H RCLONE_CONFIG_CAP_REGION=us-east-1
	rclone --config /dev/null copyto "$TMP/small.txt" cap:bucket/rclone/small.txt
	rclone --config /dev/null cat cap:bucket/rclone/small.txt >/dev/null
	rclone --config /dev/null copyto "$TMP/big.bin" cap:bucket/rclone/big.bin
)

for py in /usr/bin/python3 python3; do
	name=boto3-debian; [ "$py" = python3 ] && name=boto3-pip
	$py -c 'import boto3' 2>/dev/null || continue
	client "$name"
	$py - "$H" "$S" "$TMP/cert.pem" "$TMP/big.bin" <<'PY'
import sys, urllib.request, ssl, boto3
from botocore.config import Config
h, s, cert, big = sys.argv[1:5]
cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"})
c = boto3.client("s3", endpoint_url="http://" + h, region_name="us-east-1", config=cfg)
c.put_object(Bucket="bucket", Key="boto/a b.txt", Body=b"hello from boto3\n")
c.get_object(Bucket="bucket", Key="boto/a b.txt")["Body"].read()
c.head_object(Bucket="bucket", Key="boto/a b.txt")
c.list_objects_v2(Bucket="bucket", Prefix="boto/")
for method, params in (("get_object", {}), ("put_object", {})):
    url = c.generate_presigned_url(method, Params=dict(Bucket="bucket", Key="boto/p.txt", **params),
                                   ExpiresIn=900)
    req = urllib.request.Request(url, method="GET" if method == "get_object" else "PUT",
                                 data=None if method == "get_object" else b"presigned put\n")
    try:
        urllib.request.urlopen(req).read()
    except Exception:
        pass
t = boto3.client("s3", endpoint_url="https://" + s, region_name="us-east-1", config=cfg,
                 verify=cert)
with open(big, "rb") as f:
    try:
        t.put_object(Bucket="bucket", Key="boto/big.bin", Body=f, ChecksumAlgorithm="CRC32")
    except Exception as e:
        print("trailer upload:", e)
PY
done
echo "captured: $(ls "$OUT" | wc -l) files"
