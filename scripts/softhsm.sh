#!/usr/bin/env bash
# Makes sure SoftHSM 2 (Debian's softhsm2: a PKCS#11 token kept in files)
# is installed, and prints the path of its PKCS#11 library on stdout.
# keys/pkcs11/hsmtest reads that path from CLOAK_SOFTHSM_MODULE.
set -euo pipefail

if ! command -v softhsm2-util >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		echo "softhsm.sh: softhsm2 is not installed, and installing it needs root" \
			"(or password-less sudo): run 'apt-get install softhsm2' as root" >&2
		exit 1
	fi
	echo "softhsm.sh: installing softhsm2" >&2
	"${sudo[@]}" apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q softhsm2 >&2
fi

for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so \
	/usr/local/lib/softhsm/libsofthsm2.so; do
	if [ -f "$lib" ]; then
		echo "$lib"
		exit 0
	fi
done
echo "softhsm.sh: softhsm2 is installed but libsofthsm2.so was not found" >&2
exit 1
