/* ferryctl restore: one disk at one point into a raw image or a VMDK (the work is the
 * restore library's, restore/restore.h; this command parses, prints progress and the
 * result). Returns the exit code: 0 ok, 1 failure, 2 bad usage. */
#ifndef FERRY_CTL_RESTORE_H
#define FERRY_CTL_RESTORE_H

int ctl_restore_main(int argc, char **argv);

#endif
