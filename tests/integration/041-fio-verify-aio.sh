#!/usr/bin/env bash
# Acceptance 6: the same test with engine = aio (libaio).
ENGINE=aio exec bash "$(dirname "$0")/040-fio-verify.sh"
