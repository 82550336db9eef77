#!/usr/bin/env bash
# Acceptance 6: the same test with engine = aio (libaio).
ENGINE=aio exec bash "$(dirname "$0")/030-nbdcopy-ext4-replay.sh"
