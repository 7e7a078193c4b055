#!/usr/bin/env bash
# Makes sure the openssl command line tool is installed (Debian's openssl):
# cmd's TLS test probes "cloak serve" with openssl s_client. Prints its
# path on stdout.
set -euo pipefail

if ! command -v openssl >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		echo "openssl.sh: openssl is not installed, and installing it needs root" \
			"(or password-less sudo): run 'apt-get install openssl' as root" >&2
		exit 1
	fi
	echo "openssl.sh: installing openssl" >&2
	"${sudo[@]}" apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q openssl >&2
fi
command -v openssl
