/* net-snmp glue: see snmp-target.h for what it does and the engine id/boots rules.
 *
 * Sessions use net-snmp's single-session API (snmp_sess_*), so nothing depends on the
 * library's global session list, and are opened with SNMP_FLAGS_DONT_PROBE: a trap session
 * needs no probe (we are the authoritative engine), an inform session probes lazily at its
 * first send. Informs are sent with retries = 0: the notifier owns the retry policy, so one
 * attempt costs one timeout and a dead receiver never holds the thread for longer.
 *
 * Varbinds of every notification (RFC 3416 order): sysUpTime.0, snmpTrapOID.0, then
 * FERRY-MIB's ferryNotifyDomain.0, ferryNotifySeverity.0, ferryNotifyText.0,
 * ferryNotifySequence.0 (scalar instances of accessible-for-notify objects). */
#include "common/snmp-target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/library/lcd_time.h>

#include "common/log.h"
#include "common/secret.h"
#include "common/strnum.h"
#include "common/util.h"
#include "common/banned.h"

#define BOOTS_EPOCH 1577836800	/* 2020-01-01T00:00:00Z */

struct snmp_target;
struct tag_ref {			/* net-snmp's per-request callback data */
	struct snmp_target *t;
	int tag;
};

struct snmp_target {
	char *peer;
	bool v3, inform;
	char *community;
	char *user;
	u_char auth_ku[USM_AUTH_KU_LEN];
	size_t auth_ku_len;
	u_char priv_ku[USM_PRIV_KU_LEN];
	size_t priv_ku_len;
	unsigned timeout_ms;
	uint8_t engine_id[SNMP_ENGINE_ID_MAX];
	size_t engine_id_len;
	void *sess;		/* net-snmp single session, NULL while closed */
	snmp_target_done_fn *done;
	void *arg;
	struct tag_ref tags[SNMP_TAGS];
	bool closing;		/* snmp_sess_close() times out what is in flight: not news */
};

/* ---- engine id ---- */

int snmp_engine_id(const char *hex, const char *app, const char *host,
		   uint8_t id[SNMP_ENGINE_ID_MAX])
{
	if (hex) {
		size_t n = strlen(hex);
		if (n < 2 || hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X') || n % 2)
			return -EINVAL;
		size_t len = (n - 2) / 2;
		if (len < 5 || len > SNMP_ENGINE_ID_MAX)
			return -EINVAL;
		return hex_decode(hex + 2, len, id) < 0 ? -EINVAL : (int)len;
	}
	/* RFC 3411: the enterprise number with the top bit set, format 4 (text), 1-27 octets */
	put_be32(id, 0x80000000u | FERRY_PEN);
	id[4] = 4;
	char text[SNMP_ENGINE_ID_MAX + 1];
	snprintf(text, sizeof text, "%s@%s", app, host && *host ? host : "localhost");
	size_t n = MIN(strlen(text), (size_t)SNMP_ENGINE_ID_MAX - 5);
	memcpy(id + 5, text, n);
	return (int)(5 + n);
}

void snmp_engine_id_hex(const uint8_t *id, size_t len, char *buf, size_t buflen)
{
	size_t o = 0;
	o += (size_t)snprintf(buf, buflen, "0x");
	for (size_t i = 0; i < len && o + 3 <= buflen; i++)
		o += (size_t)snprintf(buf + o, buflen - o, "%02x", id[i]);
}

/* ---- the library ---- */

/* init_snmp() complains about every standard MIB it cannot find; we load none on purpose */
static bool lib_initializing;

static int log_cb(int major, int minor, void *server_arg, void *client_arg)
{
	(void)major, (void)minor, (void)client_arg;
	const struct snmp_log_message *m = server_arg;
	if (!m || !m->msg)
		return 0;
	int n = (int)strcspn(m->msg, "\n");
	if (n == 0)
		return 0;
	if (m->priority <= LOG_WARNING && !lib_initializing)
		log_warn("snmp: %.*s", n, m->msg);
	else
		log_debug("snmp: %.*s", n, m->msg);
	return 0;
}

void snmp_lib_setup(void)
{
	/* nothing from /etc/snmp or /var/lib/snmp, nothing written there, no MIB files */
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_HOST_FILES, 1);
	netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIBDIRS, "/nonexistent");
	netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, "/nonexistent");
	netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
	snmp_disable_log();
	snmp_enable_calllog();
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, log_cb, NULL);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
}

int snmp_lib_init(const char *app, const uint8_t *engine_id, size_t engine_id_len,
		  char *err, size_t errlen)
{
	snmp_lib_setup();
	lib_initializing = true;
	init_snmp(app);
	lib_initializing = false;

	int rc = set_exact_engineID(engine_id, engine_id_len);
	if (rc != SNMPERR_SUCCESS) {
		snprintf(err, errlen, "cannot set the SNMP engine id: %s", snmp_api_errstring(rc));
		return -1;
	}
	time_t now = time(NULL);
	int boots = now > BOOTS_EPOCH ? (int)MIN((long long)now - BOOTS_EPOCH, 0x7ffffffeLL) : 1;
	/* the configuration token's handler is the library's exported way to set the boots
	 * (it stores its argument + 1); engineTime counts from init_snmp() */
	char arg[16];
	snprintf(arg, sizeof arg, "%d", boots - 1);
	engineBoots_conf("engineBoots", arg);
	/* USM takes a message's boots/time from its engine time cache: enter ours */
	set_enginetime(engine_id, (u_int)engine_id_len, (u_int)snmpv3_local_snmpEngineBoots(),
		       (u_int)snmpv3_local_snmpEngineTime(), TRUE);
	return 0;
}

void snmp_lib_shutdown(const char *app)
{
	snmp_shutdown(app);
}

/* ---- one target ---- */

int snmp_target_new(const struct snmp_target_cfg *c, snmp_target_done_fn *done, void *arg,
		    struct snmp_target **out, char *err, size_t errlen)
{
	struct snmp_target *t = calloc(1, sizeof *t);
	*out = NULL;
	if (!t)
		goto oom;
	t->v3 = c->v3;
	t->inform = c->inform;
	t->timeout_ms = c->timeout_ms;
	t->done = done;
	t->arg = arg;
	for (int i = 0; i < SNMP_TAGS; i++)
		t->tags[i] = (struct tag_ref){ .t = t, .tag = i };
	if (!(t->peer = strdup(c->peer)))
		goto oom;
	if (!c->v3) {
		if (!(t->community = strdup(c->community)))
			goto oom;
		*out = t;
		return 0;
	}
	if (!(t->user = strdup(c->user)))
		goto oom;
	if (strlen(c->auth_pass) < USM_LENGTH_P_MIN || strlen(c->priv_pass) < USM_LENGTH_P_MIN) {
		snprintf(err, errlen, "SNMPv3 passphrases must have at least %d characters",
			 USM_LENGTH_P_MIN);
		snmp_target_free(t);
		return -1;
	}
	t->auth_ku_len = sizeof t->auth_ku;
	t->priv_ku_len = sizeof t->priv_ku;
	/* the privacy key is derived with the authentication protocol's hash (RFC 3826) */
	if (generate_Ku(usmHMAC192SHA256AuthProtocol, OID_LENGTH(usmHMAC192SHA256AuthProtocol),
			(const u_char *)c->auth_pass, strlen(c->auth_pass), t->auth_ku,
			&t->auth_ku_len) != SNMPERR_SUCCESS ||
	    generate_Ku(usmHMAC192SHA256AuthProtocol, OID_LENGTH(usmHMAC192SHA256AuthProtocol),
			(const u_char *)c->priv_pass, strlen(c->priv_pass), t->priv_ku,
			&t->priv_ku_len) != SNMPERR_SUCCESS) {
		snprintf(err, errlen, "cannot derive the SNMPv3 keys");
		snmp_target_free(t);
		return -1;
	}
	if (c->engine_id_len > sizeof t->engine_id) {
		snprintf(err, errlen, "engine id too long");
		snmp_target_free(t);
		return -1;
	}
	memcpy(t->engine_id, c->engine_id, c->engine_id_len);
	t->engine_id_len = c->engine_id_len;
	*out = t;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	snmp_target_free(t);
	return -1;
}

void snmp_target_free(struct snmp_target *t)
{
	if (!t)
		return;
	snmp_target_close(t);
	free(t->peer);
	secret_free(t->community);
	free(t->user);
	secret_wipe(t->auth_ku, sizeof t->auth_ku);
	secret_wipe(t->priv_ku, sizeof t->priv_ku);
	free(t);
}

static int sess_cb(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu, void *magic);

int snmp_target_open(struct snmp_target *t, char *err, size_t errlen)
{
	netsnmp_session s;
	if (t->sess)
		return 0;
	snmp_sess_init(&s);
	s.peername = t->peer;
	s.retries = 0;
	s.timeout = (long)t->timeout_ms * 1000;
	s.callback = NULL;	/* answers come to each request's own callback */
	s.flags |= SNMP_FLAGS_DONT_PROBE;
	if (!t->v3) {
		s.version = SNMP_VERSION_2c;
		s.community = (u_char *)t->community;
		s.community_len = strlen(t->community);
	} else {
		s.version = SNMP_VERSION_3;
		s.securityModel = SNMP_SEC_MODEL_USM;
		s.securityName = t->user;
		s.securityNameLen = strlen(t->user);
		s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
		s.securityAuthProto = usmHMAC192SHA256AuthProtocol;
		s.securityAuthProtoLen = OID_LENGTH(usmHMAC192SHA256AuthProtocol);
		memcpy(s.securityAuthKey, t->auth_ku, t->auth_ku_len);
		s.securityAuthKeyLen = t->auth_ku_len;
		s.securityPrivProto = usmAESPrivProtocol;
		s.securityPrivProtoLen = OID_LENGTH(usmAESPrivProtocol);
		memcpy(s.securityPrivKey, t->priv_ku, t->priv_ku_len);
		s.securityPrivKeyLen = t->priv_ku_len;
		if (!t->inform) {	/* a trap: we are the authoritative engine */
			s.securityEngineID = t->engine_id;
			s.securityEngineIDLen = t->engine_id_len;
			s.contextEngineID = t->engine_id;
			s.contextEngineIDLen = t->engine_id_len;
		}
	}
	t->sess = snmp_sess_open(&s);
	secret_wipe(s.securityAuthKey, sizeof s.securityAuthKey);
	secret_wipe(s.securityPrivKey, sizeof s.securityPrivKey);
	if (!t->sess) {
		char *msg = NULL;
		int cerr = 0, serr = 0;
		snmp_error(&s, &cerr, &serr, &msg);
		snprintf(err, errlen, "%s", msg ? msg : "cannot open an SNMP session");
		free(msg);
		return -1;
	}
	return 0;
}

void snmp_target_close(struct snmp_target *t)
{
	if (t && t->sess) {
		/* outstanding requests are dropped with the session, without callbacks */
		t->closing = true;
		snmp_sess_close(t->sess);
		t->closing = false;
		t->sess = NULL;
	}
}

bool snmp_target_is_open(const struct snmp_target *t)
{
	return t->sess != NULL;
}

static const char *report_reason(netsnmp_pdu *pdu)
{
	int r = snmpv3_get_report_type(pdu);
	return r ? snmp_api_errstring(r) : "report";
}

static int sess_cb(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu, void *magic)
{
	const struct tag_ref *ref = magic;
	struct snmp_target *t = ref->t;
	(void)s, (void)reqid;
	if (t->closing)
		return 1;
	char detail[160] = "";
	enum snmp_outcome o;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu && pdu->command == SNMP_MSG_RESPONSE && pdu->errstat == SNMP_ERR_NOERROR) {
			o = SNMP_ACKED;
		} else if (pdu && pdu->command == SNMP_MSG_REPORT) {
			o = SNMP_REFUSED;
			snprintf(detail, sizeof detail, "the receiver answered with a report: %s",
				 report_reason(pdu));
		} else {
			o = SNMP_REFUSED;
			snprintf(detail, sizeof detail, "the receiver answered with an error: %s",
				 pdu ? snmp_errstring((int)pdu->errstat) : "?");
		}
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		o = SNMP_TIMED_OUT;
		snprintf(detail, sizeof detail, "no acknowledgement within %u ms", t->timeout_ms);
		break;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		o = SNMP_REFUSED;
		snprintf(detail, sizeof detail, "refused: the answer fails the security checks (wrong user or passphrase?)");
		break;
	default:
		o = SNMP_REFUSED;
		snprintf(detail, sizeof detail, "send failed (net-snmp callback %d)", op);
		break;
	}
	if (t->done)
		t->done(t->arg, ref->tag, o, detail);
	return 1;
}

static const oid up_oid[] = { 1, 3, 6, 1, 2, 1, 1, 3, 0 };
static const oid trap_oid[] = { 1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0 };

/* 1.3.6.1.4.1.PEN.1.1.N.0: the notification objects' scalar instances */
static void obj_oid(oid *o, unsigned n)
{
	static const oid base[] = { 1, 3, 6, 1, 4, 1, FERRY_PEN, 1, 1 };
	memcpy(o, base, sizeof base);
	o[ARRAY_SIZE(base)] = n;
	o[ARRAY_SIZE(base) + 1] = 0;
}

static netsnmp_pdu *build_pdu(const struct snmp_target *t, const struct notify_event *ev,
			      uint32_t uptime_cs)
{
	const struct notify_type_info *ti = notify_type_info(ev->type);
	netsnmp_pdu *pdu = snmp_pdu_create(t->inform ? SNMP_MSG_INFORM : SNMP_MSG_TRAP2);
	if (!pdu || !ti) {
		if (pdu)
			snmp_free_pdu(pdu);
		return NULL;
	}
	oid notif[] = { 1, 3, 6, 1, 4, 1, FERRY_PEN, 0, ti->arc };
	oid o[11];
	u_long ticks = uptime_cs;
	long severity = ev->severity;
	u_long seq = ev->seq;
	bool ok = snmp_pdu_add_variable(pdu, up_oid, OID_LENGTH(up_oid), ASN_TIMETICKS, &ticks,
					sizeof ticks) &&
		  snmp_pdu_add_variable(pdu, trap_oid, OID_LENGTH(trap_oid), ASN_OBJECT_ID, notif,
					sizeof notif);
	obj_oid(o, 1);
	ok = ok && snmp_pdu_add_variable(pdu, o, ARRAY_SIZE(o), ASN_OCTET_STR, ev->domain,
					 strlen(ev->domain));
	obj_oid(o, 2);
	ok = ok && snmp_pdu_add_variable(pdu, o, ARRAY_SIZE(o), ASN_INTEGER, &severity,
					 sizeof severity);
	obj_oid(o, 3);
	ok = ok && snmp_pdu_add_variable(pdu, o, ARRAY_SIZE(o), ASN_OCTET_STR, ev->text,
					 strlen(ev->text));
	obj_oid(o, 4);
	ok = ok && snmp_pdu_add_variable(pdu, o, ARRAY_SIZE(o), ASN_UNSIGNED, &seq, sizeof seq);
	if (!ok) {
		snmp_free_pdu(pdu);
		return NULL;
	}
	return pdu;
}

int snmp_target_send(struct snmp_target *t, const struct notify_event *ev, uint32_t uptime_cs,
		     int tag, char *err, size_t errlen)
{
	if (tag < 0 || tag >= SNMP_TAGS) {
		snprintf(err, errlen, "bad tag");
		return -1;
	}
	if (!t->sess) {
		snprintf(err, errlen, "session not open");
		return -1;
	}
	netsnmp_pdu *pdu = build_pdu(t, ev, uptime_cs);
	if (!pdu) {
		snprintf(err, errlen, "cannot build the notification (out of memory)");
		return -1;
	}
	int id = t->inform ? snmp_sess_async_send(t->sess, pdu, sess_cb, &t->tags[tag])
			   : snmp_sess_send(t->sess, pdu);
	if (id == 0) {
		netsnmp_session *s = snmp_sess_session(t->sess);
		int e = s ? s->s_snmp_errno : SNMPERR_GENERR;
		if (e == SNMPERR_TIMEOUT || e == SNMPERR_UNKNOWN_ENG_ID)
			snprintf(err, errlen, "no answer to the engine id discovery within %u ms",
				 t->timeout_ms);
		else
			snprintf(err, errlen, "%s", snmp_api_errstring(e));
		snmp_free_pdu(pdu);
		return -1;
	}
	return 0;
}

int snmp_target_fd(const struct snmp_target *t)
{
	if (!t->sess)
		return -1;
	netsnmp_transport *tr = snmp_sess_transport(t->sess);
	return tr ? tr->sock : -1;
}

void snmp_target_read(struct snmp_target *t)
{
	int fd = snmp_target_fd(t);
	if (fd < 0)
		return;
	netsnmp_large_fd_set fds;
	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	snmp_sess_read2(t->sess, &fds);
	netsnmp_large_fd_set_cleanup(&fds);
}

void snmp_target_timeouts(struct snmp_target *t)
{
	if (t->sess)
		snmp_sess_timeout(t->sess);
}
