#ifndef FERRY_CTL_STATUS_H
#define FERRY_CTL_STATUS_H
/* `ferryctl status -c FILE [--json]`: ask the running ferryd over its control socket. */
int ctl_status_main(int argc, char **argv);
#endif
