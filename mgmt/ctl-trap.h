#ifndef FERRY_CTL_TRAP_H
#define FERRY_CTL_TRAP_H
/* `ferryctl trap test -c FILE [--as ferryd|ferry-agent]`: send ferryTestNotification to every
 * [snmp-receiver] and say which acknowledged. Through the running ferryd when its control
 * socket answers (it sends with its own engine and counters), else from ferryctl itself
 * with the engine id that ferryd (or --as ferry-agent) would use.
 * `ferryctl trap list`: every notification ferry sends: MIB name, OID, severity. */
int ctl_trap_main(int argc, char **argv);
#endif
