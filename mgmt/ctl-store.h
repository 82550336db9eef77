#ifndef FERRY_CTL_STORE_H
#define FERRY_CTL_STORE_H
/* `ferryctl store check -c FILE` (or --store URL [--endpoint E] [--region R]
 * [--addressing path|virtual] [--access-key-file F --secret-key-file F] [--ca-file F]):
 * checks, step by step, that the object store is usable — reachability, TLS,
 * authentication, the bucket (S3 only), then a put/get/range/no-overwrite/delete round trip
 * of one scratch object — printing each step with its result and time. Exit 0 all steps
 * passed, 1 a step failed (the rest are skipped), 2 usage or configuration.
 *
 * `ferryctl store copy (--from URL | --from-config FILE) [--threads N] STORE` (STORE as
 * above, the destination): copies the repository in the source store into the
 * destination, skipping what is already there, in the order of repo/store-copy.h, and
 * prints what it copied and the rate. Exit 0 done, 1 failed (the reason on stderr; rerun
 * to continue), 2 usage or a store that cannot be opened. */
int ctl_store_main(int argc, char **argv);
#endif
