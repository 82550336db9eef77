#ifndef FERRY_CTL_STORE_H
#define FERRY_CTL_STORE_H
/* `ferryctl store check -c FILE` (or --store URL [--endpoint E] [--region R]
 * [--addressing path|virtual] [--access-key-file F --secret-key-file F] [--ca-file F]):
 * checks, step by step, that the object store is usable — reachability, TLS,
 * authentication, the bucket (S3 only), then a put/get/range/no-overwrite/delete round trip
 * of one scratch object — printing each step with its result and time. Exit 0 all steps
 * passed, 1 a step failed (the rest are skipped), 2 usage or configuration. */
int ctl_store_main(int argc, char **argv);
#endif
