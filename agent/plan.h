/* Recovery plans: how a protection domain's VMs come up at the recovery site
 * (docs/design.md section 4; syntax and every check in docs/plan.md).
 *
 *   [plan]       domain, datastore, format, vm_prefix, test_network, test_address,
 *                test_datastore, interval
 *   [networks]   map = SOURCE -> TARGET            (repeatable)
 *   [reip]       rule = 10.1.*.* -> 10.2.*.* [prefix N] [gw G] [dns D,...]   (repeatable)
 *   [boot]       group = VM[, VM...]               (repeatable: groups in boot order)
 *   [vm NAME]    after = VM[, VM...]; check = power-on | tcp [ADDR:]PORT | serial REGEX;
 *                timeout, delay, on_timeout = stop | continue; reip = disk | cidata | none
 *   [hypervisor] driver = NAME + the driver's keys (else the agent's [hypervisor])
 *   [protected]  control = ferryd's control socket; driver + keys; stop_timeout
 *                (planned failover: reaching the protected site)
 *
 * Three layers, so that each is testable alone:
 *   plan_parse        text -> struct plan (pure; fuzzed): syntax and values
 *   plan_check_domain plan + the domain's VM descriptions -> problems (pure): DAG cycles,
 *                     unknown VMs and networks, unmapped networks, rules matching no NIC,
 *                     two VMs on one address, checks that need an address
 *   plan_check_site   (agent/plan-site.c) the hypervisor and the datastore: driver
 *                     reachable, target networks present, room for the disks
 * Every layer reports every problem it finds, one line each, into a struct problems. */
#ifndef FERRY_AGENT_PLAN_H
#define FERRY_AGENT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/reip.h"
#include "common/config.h"
#include "repo/vmdesc.h"
#include "restore/restore.h"

#define PLAN_MAX_TEXT (256u << 10)
#define PLAN_MAX_VMS 256
#define PLAN_DEFAULT_TIMEOUT_MS 300000u
#define PLAN_DEFAULT_INTERVAL_MS 5000u

/* ---- problem lists ---- */

struct problems {
	char **v;		/* one line each, malloc'd */
	size_t n;
	bool oom;		/* a line could not be stored */
};

void problems_add(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void problems_release(struct problems *p);

/* ---- the plan ---- */

enum plan_check { CHECK_POWER_ON = 0, CHECK_TCP = 1, CHECK_SERIAL = 2 };
enum plan_reip { REIP_DISK = 0, REIP_CIDATA = 1, REIP_NONE = 2 };

struct plan_vm {
	char name[VM_NAME_MAX + 1];
	char (*after)[VM_NAME_MAX + 1];	/* the VMs it waits for (explicit `after`) */
	size_t n_after;
	enum plan_check check;
	uint32_t tcp_addr;		/* CHECK_TCP: host order; 0: the VM's new address */
	uint16_t tcp_port;
	char *serial_re;		/* CHECK_SERIAL: POSIX extended regex */
	uint32_t timeout_ms;		/* readiness timeout; default 300 s */
	uint32_t delay_ms;		/* wait this long after its dependencies are ready */
	bool on_timeout_continue;	/* on_timeout = continue (default stop) */
	enum plan_reip reip;
	unsigned line;			/* of [vm NAME] */
};

struct plan_map {
	char from[VM_NAME_MAX + 1], to[VM_NAME_MAX + 1];
	unsigned line;
};

/* Where rules[i] of a plan came from (for messages). */
struct plan_rule_src {
	char *text;
	unsigned line;
};

struct plan_group {
	char (*vms)[VM_NAME_MAX + 1];
	size_t n;
	unsigned line;
};

/* A driver choice: name and settings (the [hypervisor] / [protected] keys). */
struct plan_driver {
	char *driver;			/* NULL: none given */
	struct cfg_setting *settings;
	size_t n;
};

struct plan {
	char domain[REPO_NAME_MAX + 1];
	char *datastore;		/* absolute directory */
	enum restore_format format;	/* raw | vmdk | vmdk-flat; default vmdk-flat */
	char *vm_prefix;		/* the recovered VMs' names: prefix + name; default "" */
	char *test_network;		/* NULL: test failover not possible */
	uint32_t test_host;		/* host address on the test network (0: none) */
	uint8_t test_prefix;
	char *test_datastore;		/* default DATASTORE/test */
	uint32_t interval_ms;		/* continuous: how often new points are looked for */
	struct plan_map *maps;
	size_t n_maps;
	struct reip_rule *rules;	/* [reip], in order: as reip_map_nic and
					 * reip_nic_change take them */
	struct plan_rule_src *rule_src;	/* rule_src[i]: rules[i]'s text and line */
	size_t n_rules;
	struct plan_group *groups;
	size_t n_groups;
	struct plan_vm *vms;		/* the [vm NAME] sections, in file order */
	size_t n_vms;
	struct plan_driver hv;		/* [hypervisor] */
	struct plan_driver prot;	/* [protected] driver */
	char *prot_control;		/* [protected] control: ferryd's control socket */
	uint32_t prot_stop_timeout_ms;	/* graceful power-off before a hard one; default 120 s */
};

/* Parse a plan (pure). 0, or -1 with every problem found in *pr ("FILE:LINE: reason"),
 * *p then released. */
int plan_parse(const char *file, const char *text, size_t len, struct plan *p,
	       struct problems *pr);
void plan_release(struct plan *p);

/* The [vm NAME] section of a VM, or NULL (a VM without one gets the defaults). */
const struct plan_vm *plan_vm_find(const struct plan *p, const char *name);
/* The target network of a source network, or NULL when unmapped. */
const char *plan_map_network(const struct plan *p, const char *source);

/* ---- the plan against the domain ---- */

/* What the plan makes of one VM of the domain: its dependencies (indices into the VM set),
 * its NICs after the map and the Re-IP rules, and its settings. */
struct plan_vm_view {
	const struct vm_desc *desc;
	const struct plan_vm *pv;	/* NULL: defaults */
	size_t *deps;			/* indices into the set */
	size_t n_deps;
	size_t order;			/* position in a topological order (boot order) */
	struct vm_nic nics[VM_MAX_NICS];	/* after Re-IP */
	bool nic_changed[VM_MAX_NICS];
	uint32_t addr;			/* the first static address after Re-IP (0: none) */
};

struct plan_view {
	struct plan_vm_view *vms;	/* same order as the set */
	size_t n;
	size_t *boot;			/* indices in boot order (dependencies first) */
};

/* Checks for a failover mode (or for all modes). */
enum plan_mode { PLAN_ANY = 0, PLAN_PLANNED, PLAN_FORCED, PLAN_TEST, PLAN_CONTINUOUS };

/* Everything that can be said from the plan and the VM descriptions alone (pure); every
 * problem goes to *pr. 0 when there is none (then *view is filled, release it), else -1. */
int plan_check_domain(const struct plan *p, const struct vm_set *set, enum plan_mode mode,
		      struct plan_view *view, struct problems *pr);
void plan_view_release(struct plan_view *v);

/* "planned" ...: 0 or -EINVAL. */
int plan_mode_parse(const char *s, enum plan_mode *m);
const char *plan_mode_name(enum plan_mode m);

#endif
