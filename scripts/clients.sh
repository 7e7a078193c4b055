#!/usr/bin/env bash
# Makes sure the real S3 command-line clients that integration/clients_test.go
# drives are installed (Debian's awscli, s3cmd, rclone, restic, python3-boto3,
# and curl for presigned URLs), prints their versions on stderr, and prints
# on stdout the lines to export:
#
#   CLOAK_AWS_BIN=/usr/bin/aws  CLOAK_S3CMD_BIN=...  CLOAK_RCLONE_BIN=...
#   CLOAK_RESTIC_BIN=...  CLOAK_PYTHON_BIN=/usr/bin/python3  CLOAK_CURL_BIN=...
#
# Debian's paths are used on purpose: the aws or python3 first on PATH may
# be a pyenv shim of another awscli or Python without boto3.
set -euo pipefail

packages=()
[ -x /usr/bin/aws ] || packages+=(awscli)
[ -x /usr/bin/s3cmd ] || packages+=(s3cmd)
[ -x /usr/bin/rclone ] || packages+=(rclone)
[ -x /usr/bin/restic ] || packages+=(restic)
/usr/bin/python3 -c 'import boto3' 2>/dev/null || packages+=(python3-boto3)
[ -x /usr/bin/curl ] || packages+=(curl)

if [ ${#packages[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		echo "clients.sh: installing ${packages[*]} needs root (or password-less sudo):" \
			"run 'apt-get install ${packages[*]}' as root" >&2
		exit 1
	fi
	echo "clients.sh: installing ${packages[*]}" >&2
	# Other jobs on the machine may hold the dpkg lock for a while.
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 \
		install -y -q --no-install-recommends "${packages[@]}" >&2
fi

{
	echo "clients.sh: $(/usr/bin/aws --version 2>&1 | head -n1)"
	echo "clients.sh: $(/usr/bin/s3cmd --version 2>&1 | head -n1)"
	echo "clients.sh: $(/usr/bin/rclone version 2>&1 | head -n1)"
	echo "clients.sh: $(/usr/bin/restic version 2>&1 | head -n1)"
	echo "clients.sh: boto3 $(/usr/bin/python3 -c 'import boto3, botocore;
print(boto3.__version__, "botocore", botocore.__version__)')"
	echo "clients.sh: $(/usr/bin/curl --version 2>&1 | head -n1)"
} >&2

echo "CLOAK_AWS_BIN=/usr/bin/aws"
echo "CLOAK_S3CMD_BIN=/usr/bin/s3cmd"
echo "CLOAK_RCLONE_BIN=/usr/bin/rclone"
echo "CLOAK_RESTIC_BIN=/usr/bin/restic"
echo "CLOAK_PYTHON_BIN=/usr/bin/python3"
echo "CLOAK_CURL_BIN=/usr/bin/curl"
