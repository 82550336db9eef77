/* The orchestration journal (agent/journal.h, docs/journal-format.md).
 *
 * Each record kind has one apply function that first checks everything (types, ids,
 * indices: a hostile or damaged file can never index out of bounds) and only then
 * changes the record, allocating before it frees, so a failed apply leaves the record as
 * it was. journal_write runs the same function in "check" mode before the line goes to
 * disk, so a record that would not replay is never written. */
#include "agent/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "common/util.h"
#include "common/banned.h"

static const char *const step_names[] = { "pending", "running", "done", "failed", "skipped" };
static const char *const result_names[] = { "running", "done", "failed", "cancelled" };

const char *step_state_name(enum step_state s)
{
	return (unsigned)s < ARRAY_SIZE(step_names) ? step_names[s] : "?";
}

const char *op_result_name(enum op_result r)
{
	return (unsigned)r < ARRAY_SIZE(result_names) ? result_names[r] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

/* ---- in-memory record ---- */

static void step_release(struct step *s)
{
	free(s->name);
	free(s->kind);
	free(s->vm);
	free(s->disk);
	free(s->after);
	free(s->detail);
	json_decref(s->result);
}

void steps_free(struct step *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		step_release(&s[i]);
	free(s);
}

static void op_release(struct op *o)
{
	free(o->point_spec);
	free(o->failed_step);
	json_decref(o->vms);
	free(o->point);
	free(o->plan);
	free(o->reason);
	steps_free(o->steps, o->n_steps);
}

void dom_record_release(struct dom_record *r)
{
	free(r->error_step);
	free(r->error_reason);
	free(r->plan);
	for (size_t i = 0; i < r->n_ops; i++) {
		op_release(r->ops[i]);
		free(r->ops[i]);
	}
	free(r->ops);
	memset(r, 0, sizeof(*r));
}

struct op *dom_record_op(struct dom_record *r, uint32_t id)
{
	return id >= 1 && id <= r->n_ops ? r->ops[id - 1] : NULL;
}

/* ---- record builders ---- */

static json_t *rec_new(const char *type)
{
	json_t *o = json_object();
	if (o && (json_object_set_new(o, "t", json_string(type)) < 0 ||
		  json_object_set_new(o, "time", json_integer((json_int_t)now_real_ns())) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Set key to a string (NULL: leave the key out). False when out of memory. */
static bool set_str(json_t *o, const char *key, const char *val)
{
	return !val || json_object_set_new(o, key, json_string(val)) == 0;
}

static bool set_u64(json_t *o, const char *key, uint64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v)) == 0;
}

static json_t *done_or_free(json_t *o, bool ok)
{
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *jrec_plan(const char *text)
{
	json_t *o = rec_new("plan");
	return o ? done_or_free(o, set_str(o, "text", text)) : NULL;
}

static json_t *step_def(const struct step *s)
{
	json_t *o = json_object(), *after = json_array();
	bool ok = o && after && set_str(o, "name", s->name) && set_str(o, "kind", s->kind) &&
		  set_str(o, "vm", s->vm) && set_str(o, "disk", s->disk);
	for (size_t i = 0; ok && i < s->n_after; i++)
		ok = json_array_append_new(after, json_integer((json_int_t)s->after[i])) == 0;
	if (ok && s->n_after) {
		ok = json_object_set_new(o, "after", after) == 0;
		after = NULL;
	}
	json_decref(after);
	return done_or_free(o, ok);
}

json_t *jrec_op(const struct op *op)
{
	json_t *o = rec_new("op"), *steps = json_array();
	bool ok = o && steps && set_u64(o, "op", op->id) &&
		  set_str(o, "action", dom_action_name(op->action)) &&
		  set_str(o, "point_spec", op->point_spec) && set_str(o, "point", op->point) &&
		  set_str(o, "plan", op->plan);
	if (ok && op->vms)
		ok = json_object_set_new(o, "vms", json_deep_copy(op->vms)) == 0;
	for (size_t i = 0; ok && i < op->n_steps; i++) {
		json_t *d = step_def(&op->steps[i]);
		ok = d && json_array_append_new(steps, d) == 0;
	}
	if (ok) {
		ok = json_object_set_new(o, "steps", steps) == 0;
		steps = NULL;
	}
	json_decref(steps);
	return done_or_free(o, ok);
}

json_t *jrec_step(const struct op *op, size_t i, enum step_state st, uint64_t bytes_done,
		  uint64_t bytes_total, const char *detail, const json_t *result)
{
	json_t *o = rec_new("step");
	if (!o)
		return NULL;
	bool ok = set_u64(o, "op", op->id) && set_u64(o, "step", i) &&
		  set_str(o, "state", step_state_name(st)) && set_u64(o, "bytes_done", bytes_done) &&
		  set_u64(o, "bytes_total", bytes_total) && set_str(o, "detail", detail);
	if (ok && result)
		ok = json_object_set_new(o, "result", json_deep_copy(result)) == 0;
	return done_or_free(o, ok);
}

json_t *jrec_end(const struct op *op, enum op_result res, const char *step, const char *reason)
{
	json_t *o = rec_new("end");
	if (!o)
		return NULL;
	bool ok = set_u64(o, "op", op->id) && set_str(o, "result", op_result_name(res)) &&
		  set_str(o, "step", step) && set_str(o, "reason", reason);
	return done_or_free(o, ok);
}

/* ---- applying records ---- */

struct ap {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct ap *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->err, a->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An optional string member: 0 (absent: *out NULL), or -EINVAL when of another type. */
static int opt_str(struct ap *a, const json_t *rec, const char *key, const char **out)
{
	json_t *v = json_object_get(rec, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(a, "'%s' is not a string", key);
	*out = json_string_value(v);
	return 0;
}

static int need_str(struct ap *a, const json_t *rec, const char *key, const char **out)
{
	if (opt_str(a, rec, key, out) < 0)
		return -EINVAL;
	return *out ? 0 : bad(a, "'%s' is missing", key);
}

static int need_u64(struct ap *a, const json_t *rec, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(rec, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(a, "'%s' is not a non-negative integer", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Replace *dst by a copy of src (NULL allowed). -ENOMEM leaves *dst alone. */
static int swap_str(char **dst, const char *src)
{
	char *c = NULL;
	if (src && !(c = strdup(src)))
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int apply_header(struct ap *a, struct dom_record *r, const json_t *rec, bool check)
{
	const char *dom;
	uint64_t ver;
	if (need_u64(a, rec, "version", &ver) < 0 || need_str(a, rec, "domain", &dom) < 0)
		return -EINVAL;
	if (ver != JOURNAL_VERSION)
		return bad(a, "journal version %" PRIu64 " (this agent reads %d)", ver,
			   JOURNAL_VERSION);
	if (strlen(dom) > REPO_NAME_MAX || (r->domain[0] && strcmp(r->domain, dom)))
		return bad(a, "journal of domain '%.80s', expected '%s'", dom, r->domain);
	if (r->version)
		return bad(a, "a second journal header");
	if (!check) {
		snprintf(r->domain, sizeof(r->domain), "%s", dom);
		r->version = (unsigned)ver;
	}
	return 0;
}

static void set_status(struct dom_record *r, const struct dom_status *s, uint64_t t)
{
	if (memcmp(&r->status, s, sizeof(*s)))
		r->state_ns = t;
	r->status = *s;
}

/* The domain's status after action a (op: the operation's action for DA_OP_*), or
 * -EPERM naming the state. */
static int transition(struct ap *a, const struct dom_record *r, enum dom_action act,
		      enum dom_action op, struct dom_status *next)
{
	if (dom_transition(&r->status, act, op, next) == 0)
		return 0;
	snprintf(a->err, a->errlen, "domain %s is %s: %s is not allowed", r->domain,
		 dom_state_name(r->status.state), dom_action_name(act));
	return -EPERM;
}

static int apply_plan(struct ap *a, struct dom_record *r, const json_t *rec, uint64_t t,
		      bool check)
{
	const char *text;
	struct dom_status next;
	if (need_str(a, rec, "text", &text) < 0)
		return -EINVAL;
	int rc = transition(a, r, DA_PLAN, DA_PLAN, &next);
	if (rc < 0 || check)
		return rc;
	if (swap_str(&r->plan, text) < 0)
		return -ENOMEM;
	set_status(r, &next, t);
	return 0;
}

/* One step definition of an op record; n is the op's step count. */
static int step_from(struct ap *a, const json_t *d, size_t idx, size_t n, struct step *s,
		     bool check)
{
	const char *name, *kind, *vm, *disk;
	json_t *after = json_object_get(d, "after");
	if (!json_is_object(d))
		return bad(a, "step %zu is not an object", idx);
	if (need_str(a, d, "name", &name) < 0 || need_str(a, d, "kind", &kind) < 0 ||
	    opt_str(a, d, "vm", &vm) < 0 || opt_str(a, d, "disk", &disk) < 0)
		return -EINVAL;
	if (after && !json_is_array(after))
		return bad(a, "step %zu: 'after' is not an array", idx);
	size_t na = json_array_size(after);
	for (size_t i = 0; i < na; i++) {
		json_t *v = json_array_get(after, i);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) >= n || (size_t)json_integer_value(v) == idx)
			return bad(a, "step %zu: bad index in 'after'", idx);
	}
	if (check)
		return 0;
	s->name = strdup(name);
	s->kind = strdup(kind);
	s->vm = vm ? strdup(vm) : NULL;
	s->disk = disk ? strdup(disk) : NULL;
	s->after = na ? calloc(na, sizeof(*s->after)) : NULL;
	if (!s->name || !s->kind || (vm && !s->vm) || (disk && !s->disk) || (na && !s->after))
		return -ENOMEM;
	for (size_t i = 0; i < na; i++)
		s->after[i] = (size_t)json_integer_value(json_array_get(after, i));
	s->n_after = na;
	return 0;
}

static int apply_op(struct ap *a, struct dom_record *r, const json_t *rec, uint64_t t,
		    bool check)
{
	uint64_t id;
	const char *action, *spec, *point, *plan;
	enum dom_action act;
	json_t *steps = json_object_get(rec, "steps"), *vms = json_object_get(rec, "vms");
	struct dom_status next;
	if (need_u64(a, rec, "op", &id) < 0 || need_str(a, rec, "action", &action) < 0 ||
	    opt_str(a, rec, "point_spec", &spec) < 0 || opt_str(a, rec, "point", &point) < 0 ||
	    opt_str(a, rec, "plan", &plan) < 0)
		return -EINVAL;
	if (vms && !json_is_array(vms))
		return bad(a, "'vms' is not an array");
	if (id != r->n_ops + 1)
		return bad(a, "operation %" PRIu64 " out of order (expected %zu)", id, r->n_ops + 1);
	if (dom_action_parse(action, &act) < 0 || act < DA_PLANNED || act > DA_TEST_STOP)
		return bad(a, "unknown operation '%.40s'", action);
	if (!json_is_array(steps) || json_array_size(steps) > 100000)
		return bad(a, "'steps' is not an array");
	size_t n = json_array_size(steps);
	for (size_t i = 0; i < n; i++)
		if (step_from(a, json_array_get(steps, i), i, n, NULL, true) < 0)
			return -EINVAL;
	int rc = transition(a, r, act, act, &next);
	if (rc < 0 || check)
		return rc;
	struct op **ops = realloc(r->ops, (r->n_ops + 1) * sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	r->ops = ops;
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->id = (uint32_t)id;
	o->action = act;
	o->start_ns = t;
	o->steps = calloc(n + 1, sizeof(*o->steps));
	rc = o->steps ? 0 : -ENOMEM;
	if (rc == 0 && (swap_str(&o->point_spec, spec) < 0 || swap_str(&o->point, point) < 0 ||
			swap_str(&o->plan, plan) < 0 || (vms && !(o->vms = json_deep_copy(vms)))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++, o->n_steps++)
		rc = step_from(a, json_array_get(steps, i), i, n, &o->steps[i], false);
	if (rc < 0) {
		if (o->steps)
			step_release(&o->steps[o->n_steps]);	/* the half-built one */
		op_release(o);
		free(o);
		return rc;
	}
	ops[r->n_ops++] = o;
	set_status(r, &next, t);
	return 0;
}

static int apply_step(struct ap *a, struct dom_record *r, const json_t *rec, uint64_t t,
		      bool check)
{
	uint64_t id, idx, done, total;
	const char *state, *detail;
	json_t *result = json_object_get(rec, "result");
	if (need_u64(a, rec, "op", &id) < 0 || need_u64(a, rec, "step", &idx) < 0 ||
	    need_str(a, rec, "state", &state) < 0 || need_u64(a, rec, "bytes_done", &done) < 0 ||
	    need_u64(a, rec, "bytes_total", &total) < 0 || opt_str(a, rec, "detail", &detail) < 0)
		return -EINVAL;
	struct op *o = dom_record_op(r, id > UINT32_MAX ? 0 : (uint32_t)id);
	if (!o || idx >= o->n_steps)
		return bad(a, "no step %" PRIu64 " in operation %" PRIu64, idx, id);
	if (o->result != OP_RUNNING)
		return bad(a, "operation %" PRIu64 " has ended", id);
	int st = name_index(step_names, ARRAY_SIZE(step_names), state);
	if (st < 0)
		return bad(a, "unknown step state '%.40s'", state);
	if (result && !json_is_object(result))
		return bad(a, "'result' is not an object");
	if (check)
		return 0;
	struct step *s = &o->steps[idx];
	json_t *res = result ? json_deep_copy(result) : NULL;
	if ((result && !res) || swap_str(&s->detail, detail) < 0) {
		json_decref(res);
		return -ENOMEM;
	}
	if (res) {
		json_decref(s->result);
		s->result = res;
	}
	s->state = (enum step_state)st;
	s->bytes_done = done;
	s->bytes_total = total;
	if (st == STEP_RUNNING) {
		s->start_ns = t;
		s->end_ns = 0;
	} else if (st != STEP_PENDING) {
		s->end_ns = t;
		if (!s->start_ns)
			s->start_ns = t;
	}
	return 0;
}

static int apply_end(struct ap *a, struct dom_record *r, const json_t *rec, uint64_t t,
		     bool check)
{
	uint64_t id;
	const char *res, *step, *reason;
	struct dom_status next;
	if (need_u64(a, rec, "op", &id) < 0 || need_str(a, rec, "result", &res) < 0 ||
	    opt_str(a, rec, "step", &step) < 0 || opt_str(a, rec, "reason", &reason) < 0)
		return -EINVAL;
	struct op *o = dom_record_op(r, id > UINT32_MAX ? 0 : (uint32_t)id);
	if (!o)
		return bad(a, "no operation %" PRIu64, id);
	if (o->result != OP_RUNNING)
		return bad(a, "operation %" PRIu64 " has already ended", id);
	int rs = name_index(result_names, ARRAY_SIZE(result_names), res);
	if (rs <= OP_RUNNING)
		return bad(a, "unknown result '%.40s'", res);
	int rc = transition(a, r, rs == OP_FAILED ? DA_OP_FAILED : DA_OP_DONE, o->action, &next);
	if (rc < 0 || check)
		return rc;
	char *es = NULL, *er = NULL;
	if (rs == OP_FAILED && ((step && !(es = strdup(step))) || (reason && !(er = strdup(reason))))) {
		free(es);
		return -ENOMEM;
	}
	if (swap_str(&o->reason, reason) < 0 || (rs == OP_FAILED && swap_str(&o->failed_step, step) < 0)) {
		free(es);
		free(er);
		return -ENOMEM;
	}
	if (rs == OP_FAILED) {
		free(r->error_step);
		free(r->error_reason);
		r->error_step = es;
		r->error_reason = er;
	}
	o->result = (enum op_result)rs;
	o->end_ns = t;
	set_status(r, &next, t);
	return 0;
}

static int apply(struct dom_record *r, const json_t *rec, bool check, char *err, size_t errlen)
{
	struct ap a = { err, errlen };
	const char *type;
	uint64_t t = 0;
	if (!json_is_object(rec))
		return bad(&a, "not a JSON object");
	if (json_object_get(rec, "journal"))
		return apply_header(&a, r, rec, check);
	if (!r->version)
		return bad(&a, "no journal header");
	if (need_str(&a, rec, "t", &type) < 0 || need_u64(&a, rec, "time", &t) < 0)
		return -EINVAL;
	int rc;
	if (!strcmp(type, "plan"))
		rc = apply_plan(&a, r, rec, t, check);
	else if (!strcmp(type, "op"))
		rc = apply_op(&a, r, rec, t, check);
	else if (!strcmp(type, "step"))
		rc = apply_step(&a, r, rec, t, check);
	else if (!strcmp(type, "end"))
		rc = apply_end(&a, r, rec, t, check);
	else
		rc = bad(&a, "unknown record type '%.40s'", type);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int journal_apply(struct dom_record *r, const json_t *rec, char *err, size_t errlen)
{
	int rc = apply(r, rec, true, err, errlen);
	return rc < 0 ? rc : apply(r, rec, false, err, errlen);
}

int journal_replay(const char *text, size_t len, struct dom_record *r, size_t *used, char *err,
		   size_t errlen)
{
	size_t pos = 0;
	unsigned line = 0;
	*used = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (!nl)
			break;	/* torn last line */
		size_t n = (size_t)(nl - (text + pos));
		line++;
		json_error_t je;
		json_t *rec = n > JOURNAL_MAX_LINE ? NULL
			      : json_loadb(text + pos, n, JSON_REJECT_DUPLICATES, &je);
		char why[256];
		int rc = rec ? journal_apply(r, rec, why, sizeof(why)) : -EINVAL;
		if (!rec)
			snprintf(why, sizeof(why), "%s", n > JOURNAL_MAX_LINE ? "line too long"
							 : je.text);
		json_decref(rec);
		if (rc < 0) {
			snprintf(err, errlen, "line %u: %s", line, why);
			return rc;
		}
		pos += n + 1;
		*used = pos;
	}
	return 0;
}

/* ---- the file ---- */

struct journal {
	int fd;
	uint64_t lines, size;
	bool broken;			/* a failed append could not be cut back */
	char *path;
};

static int read_all(int fd, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > (off_t)1 << 34)
		return -EFBIG;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	int rc = st.st_size ? pread_full(fd, buf, (size_t)st.st_size, 0) : 0;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

/* Append one line and make it durable. On failure the file is cut back to where it was,
 * so a half-written line can never glue itself to the next record. */
static int append_line(struct journal *j, const char *text, size_t len)
{
	if (j->broken)
		return -EIO;
	int rc = write_full(j->fd, text, len);
	if (rc == 0 && fdatasync(j->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		if (ftruncate(j->fd, (off_t)j->size) < 0)
			j->broken = true;	/* a torn tail stays: never append after it */
		return rc;
	}
	j->size += len;
	j->lines++;
	return 0;
}

int journal_open(const char *path, const char *domain, struct journal **out,
		 struct dom_record *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	struct journal *j = calloc(1, sizeof(*j));
	char *text = NULL;
	size_t len = 0, used = 0;
	int rc = j && (j->path = strdup(path)) ? read_all(fd, &text, &len) : -ENOMEM;
	if (j)
		j->fd = fd;
	if (rc == 0)
		rc = journal_replay(text, len, r, &used, err, errlen);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	for (size_t i = 0; rc == 0 && i < used; i++)
		j->lines += text[i] == '\n';
	if (j)
		j->size = used;
	free(text);
	if (rc == 0 && used < len && ftruncate(fd, (off_t)used) < 0) {	/* a torn last line */
		rc = -errno;
		snprintf(err, errlen, "%s: dropping a torn last line: %s", path, strerror(errno));
	}
	if (rc == 0 && used == 0) {
		char head[256];
		int n = snprintf(head, sizeof(head),
				 "{\"journal\":\"ferry-agent\",\"version\":%d,\"domain\":\"%s\"}\n",
				 JOURNAL_VERSION, domain);
		rc = append_line(j, head, (size_t)n);
		if (rc == 0)
			rc = fsync_parent_dir(path);
		if (rc == 0)
			rc = journal_replay(head, (size_t)n, r, &used, err, errlen);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	}
	if (rc < 0) {
		journal_close(j);
		if (!j)
			close(fd);
		return rc;
	}
	*out = j;
	return 0;
}

int journal_write(struct journal *j, struct dom_record *r, json_t *rec, char *err,
		  size_t errlen)
{
	if (!rec) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = apply(r, rec, true, err, errlen);
	char *text = rc == 0 ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (rc == 0 && !text)
		rc = -ENOMEM;
	if (rc == 0) {
		size_t n = strlen(text);
		text[n] = '\n';	/* json_dumps' NUL becomes the newline: len n + 1 */
		rc = append_line(j, text, n + 1);
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", j->path, strerror(-rc));
	}
	free(text);
	if (rc == 0 && (rc = apply(r, rec, false, err, errlen)) < 0)
		snprintf(err, errlen, "out of memory applying a journal record");
	json_decref(rec);
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	close(j->fd);
	free(j->path);
	free(j);
}

uint64_t journal_lines(const struct journal *j)
{
	return j->lines;
}
