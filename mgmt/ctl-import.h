/* ferryctl import: a protected disk's primary from an existing VMDK (ctl-import.c). */
#ifndef FERRY_CTL_IMPORT_H
#define FERRY_CTL_IMPORT_H

int ctl_import_main(int argc, char **argv);

#endif
