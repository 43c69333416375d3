#!/usr/bin/env bash
# Installs the Debian 12 packages daxfs needs to build, run and test.
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config
	libfuse3-dev libpmem-dev liburcu-dev liburing-dev
	# run
	fuse3
	# test: model checker, sanitizer runtimes, tools the tests drive
	spin clang libclang-rt-14-dev python3 attr acl rsync tar diffutils util-linux e2fsprogs
)

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
