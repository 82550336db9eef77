/* ferryctl's offline repository commands (mgmt/ctl-repo.c). They talk to the object store
 * directly (never to ferryd), so they work on the recovery site with only the store URL
 * and the key file. Each takes argv[0] == the command name and returns the exit code:
 * 0 ok, 1 failure (including "wrong key file for this repository"), 2 bad usage or
 * configuration. Key material is never printed.
 *
 *   init    --store URL --key-file PATH [--encryption none] [--chunk-size N]
 *   points  --store URL --key-file PATH --domain D [--json]
 *   restore --store URL --key-file PATH --domain D --disk X [--point latest|ID|TIME]
 *           [--format raw] -o FILE
 *   verify  --store URL --key-file PATH [--read-data]
 *   prune   --store URL --key-file PATH --domain D --keep SPEC [--grace SECONDS] [--wait]
 *           (or -c FILE [--domain D]: every [domain]'s keep; SPEC last:N,hourly:N,...)
 * Every command also takes -c FILE, reading [store] url and key_file (options win). */
#ifndef FERRY_CTL_REPO_H
#define FERRY_CTL_REPO_H

int ctl_init_main(int argc, char **argv);
int ctl_points_main(int argc, char **argv);
int ctl_verify_main(int argc, char **argv);
int ctl_prune_main(int argc, char **argv);

#endif
