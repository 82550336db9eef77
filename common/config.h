/* ferry's configuration file: INI, parsed into one struct.
 *
 * Syntax: `[section]`, `[domain NAME]` or `[vm NAME]`; `key = value`; comments start with
 * ';' or '#' (at line start, or after whitespace in a value); blank lines ignored; keys and
 * section names are case-sensitive; `disk` may repeat inside a domain and `nic` inside a
 * vm, any other key may not.
 * Sizes take K/M/G/T suffixes (powers of 1024), durations ms/s/m/h.
 * Every error is reported as "FILE:LINE: reason" and the whole load fails: a half-read
 * configuration is never used. Unknown sections and unknown keys are errors. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "repo/vmdesc.h"

enum engine_choice { ENGINE_AUTO, ENGINE_URING, ENGINE_AIO };
/* [nbd] tls: STARTTLS refused, offered, or required before anything else */
enum tls_choice { TLS_OFF, TLS_ON, TLS_REQUIRE };

struct disk_cfg {
	char *name;		/* NBD export name, unique across the file */
	char *path;		/* primary disk: file or block device */
	unsigned line;		/* where it was defined, for later error messages */
};

struct domain_cfg {
	char *name;
	struct disk_cfg *disks;
	size_t n_disks;
	unsigned line;
	uint32_t rpo_ms;		/* rpo: how often a point is cut; default 15s */
	char *compression;		/* auto | zstd[:LEVEL] | igzip[:LEVEL] | none; default auto */
	char *keep;			/* retention, e.g. last:48,hourly:24; default below */
	uint32_t rpo_alarm_ms;		/* rpo_alarm: ferryRpoExceeded past this; default 2 * rpo */
};

/* [vm NAME]: a VM of a protection domain as the recovery site must recreate it (stored in
 * the repository by ferryd; repo/vmdesc.h). desc.domain names a [domain] of the file and
 * desc.disks are exports of that domain, in boot order. */
struct vm_cfg {
	struct vm_desc desc;
	unsigned line;			/* of the [vm NAME] header */
	unsigned domain_line, disks_line;	/* of `domain` and `disks`, or 0 */
	unsigned nic_line[VM_MAX_NICS];
};

/* A key of a section whose keys belong to someone else (the [hypervisor] driver's). */
struct cfg_setting {
	char *key, *value;
	unsigned line;
};

/* [snmp-receiver NAME]: where notifications go (docs/snmp.md). */
enum snmp_rcv_version { SNMP_RCV_V2C, SNMP_RCV_V3 };
enum snmp_rcv_kind { SNMP_RCV_TRAP, SNMP_RCV_INFORM };

struct snmp_receiver_cfg {
	char *name;
	char *address;			/* [udp:|udp6:|tcp:|tcp6:]HOST[:PORT], port 162 by default */
	enum snmp_rcv_version version;	/* version = v2c | v3; required */
	enum snmp_rcv_kind kind;	/* type = trap | inform; default trap */
	char *community_file;		/* v2c: the community, from a file */
	char *user;			/* v3: USM user (SHA-256 auth, AES privacy: authPriv) */
	char *auth_password_file;	/* v3 */
	char *priv_password_file;	/* v3 */
	unsigned line;
};

#define DEFAULT_SNMP_QUEUE 1024u
#define DEFAULT_SNMP_TIMEOUT_MS 2000u
#define DEFAULT_SNMP_RETRY_FOR_MS (3600u * 1000u)
#define DEFAULT_SNMP_LOG_INTERVAL_MS (300u * 1000u)
#define DEFAULT_SNMP_AGENTX_SOCKET "/var/agentx/master"

#define DEFAULT_RPO_MS 15000u
#define DEFAULT_KEEP "last:48,hourly:24,daily:7,weekly:4"

struct ferry_config {
	char *file;			/* path the config was read from */
	/* [appliance] */
	char *state_dir;		/* default /var/lib/ferry */
	/* [nbd] */
	char *nbd_listen;		/* "host:port" or "unix:/path"; default 127.0.0.1:10809 */
	enum engine_choice engine;	/* default ENGINE_AUTO */
	enum tls_choice tls;		/* default TLS_OFF; on/require need cert+key or a PSK file */
	char *tls_cert_file;		/* server certificate (PEM, may hold the chain) */
	char *tls_key_file;		/* its private key (PEM) */
	char *tls_ca_file;		/* CA to verify client certificates with (then required) */
	char *tls_psk_file;		/* PSK identities, "identity:hexkey" lines */
	/* [log] */
	char *log_path;			/* default <state_dir>/replog */
	uint64_t log_size;		/* data region bytes; default 8G; multiple of 4096 */
	uint64_t log_metadata_size;	/* default 64M; multiple of 4096 */
	uint32_t log_backpressure_ms;	/* 0 = off (default); at most 50 */
	/* [store] */
	char *store_url;		/* file:///abs/dir or s3://bucket/prefix; NULL: no shipping */
	char *store_key_file;		/* repository key file */
	char *store_endpoint;		/* S3: http(s)://host[:port]; NULL: the backend's default */
	char *store_region;		/* S3: NULL: the backend's default (us-east-1) */
	char *store_addressing;		/* S3: "path" or "virtual"; NULL: by endpoint */
	char *store_access_key_file;	/* S3 credentials; NULL: from the environment */
	char *store_secret_key_file;
	char *store_ca_file;		/* CA bundle for https; NULL: the system's */
	uint32_t store_parallel;	/* S3 requests in flight; 0: the backend's default (8) */
	/* [control] */
	char *control_socket;		/* default /run/ferry/ferryd.sock */
	/* [snmp] (docs/snmp.md) */
	char *snmp_engine_id;		/* 0xHEX, 5 to 32 bytes; NULL: derived (snmp-notifier.h) */
	uint32_t snmp_queue;		/* events waiting at most; default 1024 */
	uint32_t snmp_timeout_ms;	/* inform: wait this long for an ack, then retry; 2s */
	uint32_t snmp_retry_for_ms;	/* inform: give up after retrying this long; 1h */
	uint32_t snmp_log_interval_ms;	/* a failing receiver is logged once per this; 5m */
	char *snmp_agentx_socket;	/* ferry-subagent's master agent; /var/agentx/master */
	struct snmp_receiver_cfg *snmp_receivers;	/* [snmp-receiver NAME] ... */
	size_t n_snmp_receivers;
	/* [domain NAME] ... */
	struct domain_cfg *domains;
	size_t n_domains;
	/* [vm NAME] ... */
	struct vm_cfg *vms;
	size_t n_vms;
	/* [agent] (ferry-agent, the recovery site's management agent) */
	char *agent_state_dir;		/* default /var/lib/ferry-agent */
	char *agent_socket;		/* unix socket of the API; default /run/ferry/agent.sock */
	char *agent_listen;		/* TCP "host:port" of the API; NULL: none */
	uint32_t agent_parallel;	/* disks restored at once; default 4 */
	/* [hypervisor] the recovery site's VM driver: `driver` and its own keys */
	char *hv_driver;		/* NULL: none configured */
	struct cfg_setting *hv_settings;
	size_t n_hv_settings;
};

/* Parse `len` bytes of `text`, naming `file` in errors. On success fill *cfg (owned by the
 * caller, free with config_release) and return 0. On failure return -1 with
 * "FILE:LINE: reason" in err (always NUL-terminated) and leave *cfg released. */
int config_parse(const char *file, const char *text, size_t len, struct ferry_config *cfg,
		 char *err, size_t errlen);
/* Read the file and parse it; I/O errors are reported as "FILE: strerror". */
int config_load(const char *file, struct ferry_config *cfg, char *err, size_t errlen);
/* The same without requiring a [domain] section: ferryctl's repository commands need only
 * [store], and a recovery site's configuration has no protected domains. */
int config_load_any(const char *file, struct ferry_config *cfg, char *err, size_t errlen);
int config_parse_any(const char *file, const char *text, size_t len, struct ferry_config *cfg,
		     char *err, size_t errlen);
void config_release(struct ferry_config *cfg);

/* Value parsers, shared with the CLI. Return 0 or -1 (bad syntax or overflow). */
int parse_size(const char *s, uint64_t *out);		/* "8G", "4096", "64M" */
int parse_duration_ms(const char *s, uint64_t *out);	/* "15s", "50ms", "2h", "0" */

#endif
