/* ferryctl trap: see ctl-trap.h. Exit 0 when every receiver acknowledged (informs) or was
 * sent the trap, 1 when one failed, 2 on bad usage or configuration. */
#include "mgmt/ctl-trap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/control-client.h"
#include "common/dbuf.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/snmp-notifier.h"
#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "common/banned.h"

#define U_TEST "trap test -c FILE [--as ferryd|ferry-agent]"
#define U_LIST "trap list"

static int list(int argc, char **argv)
{
	struct args a = { .cmd = "trap list", .usage = U_LIST };
	int rc = ctl_parse(argc, argv, 0, 0, &a);
	if (rc)
		return rc;
	for (int t = 0; t < NOTIFY_N_TYPES; t++) {
		const struct notify_type_info *ti = notify_type_info((enum notify_type)t);
		printf("%-34s .1.3.6.1.4.1.%u.0.%u %s\n", ti->name, FERRY_PEN, ti->arc,
		       notify_severity_name(ti->severity));
	}
	return 0;
}

/* Print the test's answer lines; return 1 if a receiver failed or ferryd said error. */
static int print_answer(const char *text, size_t len)
{
	int rc = 0, lines = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char name[128], word[32];
		printf("%.*s\n", (int)n, p);
		lines++;
		char line[1024];
		snprintf(line, sizeof line, "%.*s", (int)MIN(n, sizeof line - 1), p);
		if (strncmp(line, "error:", 6) == 0 ||
		    (sscanf(line, "%127s %31s", name, word) == 2 && strcmp(word, "failed") == 0))
			rc = 1;
		p += n + 1;
	}
	if (!lines) {
		fprintf(stderr, "ferryctl trap test: no answer to the test\n");
		rc = 1;
	}
	return rc;
}

/* Through the running ferryd. Return the exit code, or -1 when no ferryd answers. An
 * inform gets up to 3 attempts of at most inform_timeout (60 s) each. */
static int via_ferryd(const struct ferry_config *cfg)
{
	char *ans = NULL;
	int r = control_request(cfg->control_socket, "trap test", 200, 1u << 20, &ans);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return -1;
	int rc = 1;
	if (r < 0)
		fprintf(stderr, "ferryctl trap test: ferryd at %s: %s\n", cfg->control_socket,
			control_strerror(r));
	else
		rc = print_answer(ans, strlen(ans));
	free(ans);
	return rc;
}

static int standalone(const struct ferry_config *cfg, const char *as)
{
	char err[512];
	int sv[2];
	if (snmp_notifier_start(cfg, as, err, sizeof err) < 0) {
		fprintf(stderr, "ferryctl trap test: %s\n", err);
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "ferryctl trap test: socketpair: %s\n", strerror(errno));
		snmp_notifier_stop(0);
		return 1;
	}
	int r = snmp_notifier_test(sv[1]);
	if (r < 0) {
		fprintf(stderr, "ferryctl trap test: %s\n", strerror(-r));
		close(sv[0]);
		close(sv[1]);
		snmp_notifier_stop(0);
		return 1;
	}
	struct dbuf b = DBUF_INIT(1u << 20);
	char buf[4096];
	ssize_t n;
	while ((n = read(sv[0], buf, sizeof buf)) > 0 && dbuf_add(&b, buf, (size_t)n) == 0)
		;
	close(sv[0]);
	int rc = print_answer((const char *)b.data, b.len);
	dbuf_release(&b);
	snmp_notifier_stop(0);
	return rc;
}

static int test(int argc, char **argv)
{
	struct args a = { .cmd = "trap test", .usage = U_TEST };
	int rc = ctl_parse(argc, argv, OPT(CONF) | OPT(AS), OPT(CONF), &a);
	if (rc)
		return rc;
	const char *as = a.as ? a.as : "ferryd";
	if (strcmp(as, "ferryd") && strcmp(as, "ferry-agent"))
		return ctl_usage(&a, "bad --as (ferryd or ferry-agent)");
	struct ferry_config cfg;
	char err[512];
	if (config_load_any(a.conf, &cfg, err, sizeof err) < 0)
		return ctl_fail(&a, 2, "%s", err);
	if (!cfg.n_snmp_receivers) {
		config_release(&cfg);
		return ctl_fail(&a, 2, "%s: no [snmp-receiver NAME] configured", a.conf);
	}
	rc = strcmp(as, "ferryd") == 0 ? via_ferryd(&cfg) : -1;
	if (rc < 0)
		rc = standalone(&cfg, as);
	config_release(&cfg);
	return rc;
}

int ctl_trap_main(int argc, char **argv)
{
	static const struct ctl_sub subs[] = { { "test", test }, { "list", list } };
	return ctl_dispatch("trap", U_TEST "\n       ferryctl " U_LIST, subs, 2, argc, argv);
}
