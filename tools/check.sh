#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install packages, build, `make check`.
# Extra make arguments pass through (e.g. tools/check.sh SANITIZE=address,undefined).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
make -j"$(nproc)" "$@" tests
make "$@" check
