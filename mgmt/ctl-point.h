#ifndef FERRY_CTL_POINT_H
#define FERRY_CTL_POINT_H
/* `ferryctl point -c FILE --domain D [--wait]`: have the running ferryd cut a point now and
 * wait until its manifest is durable; prints the point id (EPOCH.SEQ). */
int ctl_point_main(int argc, char **argv);
#endif
