/* The libvirt driver's pure half: settings, the domain and network XML it defines, and
 * the mark it reads back (driver-libvirt.h). No libvirt calls here, so unit tests and the
 * fuzz target run it without a hypervisor.
 *
 * XML is written with libxml2's text writer, which escapes every attribute and text, so a
 * VM or file name with '<', '&' or quotes cannot change the document's structure. It is
 * read with libxml2 too (no network access, no entity expansion: XML_PARSE_NONET and no
 * XML_PARSE_NOENT), and the mark is found by its namespace, not by a prefix.
 *
 * What the domain XML says, and why:
 *   - type from `domain_type` (kvm in the field, qemu = TCG here), arch, machine;
 *   - firmware: UEFI as <os firmware='efi'> (libvirt picks the OVMF build itself, with
 *     or without secure boot as `secure_boot` asks; auto: libvirt's first match);
 *   - direct kernel boot only when `kernel` is set (guests whose whole system is an
 *     initramfs, like the project's test guest); real VMs boot from their first disk
 *     (<boot order='1'/>);
 *   - <acpi/>: without it libvirt starts QEMU with -no-acpi, and the graceful stop (the
 *     ACPI power button) would never reach the guest;
 *   - on_poweroff destroy, on_reboot restart, on_crash destroy: a guest that powers off
 *     shows as "off" (the domain stays defined);
 *   - disks: files (raw, vmdk) or NBD (raw: ferryd exports raw devices) over TCP or a unix
 *     socket, on `disk_bus` (vdX, sdX or hdX; scsi adds a virtio-scsi controller);
 *   - NICs on libvirt networks with the given MAC, model `nic_model`;
 *   - the serial console into a file, truncated at start (append='off'); without a file
 *     a pty, for virsh console;
 *   - graphics: VNC on 127.0.0.1 (an operator reaches it over SSH), SPICE, or none. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <openssl/evp.h>

#include "agent/driver-libvirt.h"
#include "common/util.h"
#include "common/banned.h"

#define X(s) ((const xmlChar *)(s))

/* ---- settings ---------------------------------------------------------------------- */

static const char *const graphics_values[] = { "vnc", "spice", "none", NULL };
static const char *const disk_bus_values[] = { "virtio", "sata", "scsi", "ide", NULL };
static const char *const nic_model_values[] = { "virtio", "e1000", "e1000e", "rtl8139",
						"vmxnet3", NULL };
static const char *const cpu_mode_values[] = { "host-model", "host-passthrough", "maximum",
					       NULL };
static const char *const secure_boot_values[] = { "auto", "yes", "no", NULL };

struct lv_key {
	const char *name;
	size_t off;			/* of the char * in struct lv_settings */
	const char *const *values;	/* NULL: free text */
	const char *dflt;
};

#define KEY(n, v, d) { #n, offsetof(struct lv_settings, n), v, d }
static const struct lv_key lv_keys[] = {
	KEY(uri, NULL, "qemu:///system"),
	KEY(domain_type, NULL, "kvm"),
	KEY(arch, NULL, "x86_64"),
	KEY(machine, NULL, NULL),
	KEY(kernel, NULL, NULL),
	KEY(initrd, NULL, NULL),
	KEY(cmdline, NULL, NULL),
	KEY(graphics, graphics_values, "vnc"),
	KEY(disk_bus, disk_bus_values, "virtio"),
	KEY(nic_model, nic_model_values, "virtio"),
	KEY(cpu_mode, cpu_mode_values, NULL),
	KEY(secure_boot, secure_boot_values, "auto"),
};

static char **key_slot(struct lv_settings *st, const struct lv_key *k)
{
	return (char **)((char *)st + k->off);
}

static bool one_of(const char *v, const char *const *values)
{
	for (; *values; values++)
		if (!strcmp(v, *values))
			return true;
	return false;
}

/* a word of letters, digits, '-', '_', '.' (domain_type, arch, machine) */
static bool is_word(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.'))
			return false;
	return true;
}

static int check_value(const struct lv_key *k, const char *v, char *err, size_t errlen)
{
	if (k->values && !one_of(v, k->values)) {
		snprintf(err, errlen, "bad value '%s' for %s", v, k->name);
		return -EINVAL;
	}
	if ((!strcmp(k->name, "domain_type") || !strcmp(k->name, "arch") ||
	     !strcmp(k->name, "machine")) && !is_word(v)) {
		snprintf(err, errlen, "bad value '%s' for %s", v, k->name);
		return -EINVAL;
	}
	if ((!strcmp(k->name, "kernel") || !strcmp(k->name, "initrd")) && v[0] != '/') {
		snprintf(err, errlen, "%s must be an absolute path, not '%s'", k->name, v);
		return -EINVAL;
	}
	return 0;
}

int lv_settings_parse(const struct drv_setting *s, size_t n, struct lv_settings *st, char *err,
		      size_t errlen)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		const struct lv_key *k = NULL;
		for (size_t j = 0; j < ARRAY_SIZE(lv_keys) && !k; j++)
			if (!strcmp(s[i].key, lv_keys[j].name))
				k = &lv_keys[j];
		int rc = -EINVAL;
		if (!k)
			snprintf(err, errlen, "unknown [hypervisor] key '%s' for driver libvirt",
				 s[i].key);
		else
			rc = check_value(k, s[i].value, err, errlen);
		char **slot = k ? key_slot(st, k) : NULL;
		if (!rc && *slot) {
			snprintf(err, errlen, "%s given twice", k->name);
			rc = -EINVAL;
		}
		if (!rc && !(*slot = strdup(s[i].value)))
			rc = -ENOMEM;
		if (rc) {
			lv_settings_release(st);
			return rc;
		}
	}
	for (size_t j = 0; j < ARRAY_SIZE(lv_keys); j++) {
		char **slot = key_slot(st, &lv_keys[j]);
		if (!*slot && lv_keys[j].dflt && !(*slot = strdup(lv_keys[j].dflt))) {
			lv_settings_release(st);
			return -ENOMEM;
		}
	}
	if ((st->initrd || st->cmdline) && !st->kernel) {
		snprintf(err, errlen, "initrd and cmdline need kernel");
		lv_settings_release(st);
		return -EINVAL;
	}
	return 0;
}

void lv_settings_release(struct lv_settings *st)
{
	for (size_t j = 0; j < ARRAY_SIZE(lv_keys); j++) {
		char **slot = key_slot(st, &lv_keys[j]);
		free(*slot);
		*slot = NULL;
	}
}

/* ---- writing ----------------------------------------------------------------------- */

/* A text writer whose first error sticks, so the element code below reads straight. */
struct xw {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	bool failed;
};

static void xw_note(struct xw *x, int rc)
{
	if (rc < 0)
		x->failed = true;
}
static void xw_open(struct xw *x, const char *name)
{
	xw_note(x, xmlTextWriterStartElement(x->w, X(name)));
}
static void xw_attr(struct xw *x, const char *name, const char *value)
{
	xw_note(x, xmlTextWriterWriteAttribute(x->w, X(name), X(value)));
}
static void xw_close(struct xw *x)
{
	xw_note(x, xmlTextWriterEndElement(x->w));
}
/* <name>text</name> */
static void xw_elem(struct xw *x, const char *name, const char *text)
{
	xw_note(x, xmlTextWriterWriteElement(x->w, X(name), X(text)));
}
/* <name attr='value'/> */
static void xw_empty(struct xw *x, const char *name, const char *attr, const char *value)
{
	xw_open(x, name);
	if (attr)
		xw_attr(x, attr, value);
	xw_close(x);
}

static int xw_begin(struct xw *x)
{
	memset(x, 0, sizeof(*x));
	if (!(x->buf = xmlBufferCreate()))
		return -ENOMEM;
	if (!(x->w = xmlNewTextWriterMemory(x->buf, 0))) {
		xmlBufferFree(x->buf);
		return -ENOMEM;
	}
	return 0;
}

/* Finish the document: 0 with a malloc'd copy in *out, or -ENOMEM. */
static int xw_finish(struct xw *x, char **out)
{
	xw_note(x, xmlTextWriterEndDocument(x->w));
	xmlFreeTextWriter(x->w);
	int rc = x->failed ? -ENOMEM : 0;
	if (!rc && !(*out = strdup((const char *)xmlBufferContent(x->buf))))
		rc = -ENOMEM;
	xmlBufferFree(x->buf);
	return rc;
}

static void xw_mark(struct xw *x, const char *hash)
{
	if (!hash)
		return;
	xw_open(x, "metadata");
	xw_note(x, xmlTextWriterStartElementNS(x->w, X("ferry"), X("def"), X(LV_NS_URI)));
	xw_attr(x, "hash", hash);
	xw_close(x);
	xw_close(x);
}

static bool bad_name(const char *s)
{
	if (!s || !*s || strlen(s) > 200)
		return true;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int check_vm(const struct drv_vm *vm, char *err, size_t errlen)
{
	if (bad_name(vm->name)) {
		snprintf(err, errlen, "bad VM name '%s'", vm->name ? vm->name : "");
		return -EINVAL;
	}
	if (vm->cpus < 1 || vm->cpus > 4096 || vm->memory_mib < 1 ||
	    vm->memory_mib > (UINT64_C(1) << 32)) {
		snprintf(err, errlen, "VM %s: bad size (%" PRIu32 " CPUs, %" PRIu64 " MiB)",
			 vm->name, vm->cpus, vm->memory_mib);
		return -EINVAL;
	}
	if (vm->n_disks > 26 || vm->n_nics > 64) {
		snprintf(err, errlen, "VM %s: too many disks or NICs", vm->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < vm->n_disks; i++) {
		const struct drv_disk *d = &vm->disks[i];
		bool file = d->path != NULL;
		bool nbd_tcp = d->nbd_host != NULL, nbd_unix = d->nbd_socket != NULL;
		const char *why = NULL;
		if (file + nbd_tcp + nbd_unix != 1)
			why = "needs exactly one of a path, an NBD host or an NBD socket";
		else if (file && d->path[0] != '/')
			why = "path must be absolute";
		else if (file && d->format && strcmp(d->format, "raw") && strcmp(d->format, "vmdk"))
			why = "format must be raw or vmdk";
		else if (nbd_unix && d->nbd_socket[0] != '/')
			why = "NBD socket path must be absolute";
		else if (nbd_tcp && (!*d->nbd_host || d->nbd_port > 65535))
			why = "bad NBD host or port";
		if (why) {
			snprintf(err, errlen, "VM %s, disk %zu: %s", vm->name, i + 1, why);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < vm->n_nics; i++)
		if (bad_name(vm->nics[i].network)) {
			snprintf(err, errlen, "VM %s, NIC %zu: bad network name", vm->name, i + 1);
			return -EINVAL;
		}
	if (vm->serial_log && vm->serial_log[0] != '/') {
		snprintf(err, errlen, "VM %s: the serial log path must be absolute", vm->name);
		return -EINVAL;
	}
	return 0;
}

static void write_os(struct xw *x, const struct lv_settings *st, const struct drv_vm *vm)
{
	xw_open(x, "os");
	if (vm->uefi)
		xw_attr(x, "firmware", "efi");
	if (vm->uefi && strcmp(st->secure_boot, "auto")) {
		xw_open(x, "firmware");
		xw_open(x, "feature");
		xw_attr(x, "enabled", st->secure_boot);
		xw_attr(x, "name", "secure-boot");
		xw_close(x);
		xw_close(x);
	}
	xw_open(x, "type");
	xw_attr(x, "arch", st->arch);
	if (st->machine)
		xw_attr(x, "machine", st->machine);
	xw_note(x, xmlTextWriterWriteString(x->w, X("hvm")));
	xw_close(x);
	if (st->kernel) {
		xw_elem(x, "kernel", st->kernel);
		if (st->initrd)
			xw_elem(x, "initrd", st->initrd);
		if (st->cmdline)
			xw_elem(x, "cmdline", st->cmdline);
	}
	xw_close(x);
}

static void write_disk(struct xw *x, const struct lv_settings *st, const struct drv_disk *d,
		       size_t i, bool boot)
{
	const char *prefix = !strcmp(st->disk_bus, "virtio") ? "vd" :
			     !strcmp(st->disk_bus, "ide") ? "hd" : "sd";
	char dev[8], port[12];
	snprintf(dev, sizeof(dev), "%s%c", prefix, (char)('a' + i));
	xw_open(x, "disk");
	xw_attr(x, "type", d->path ? "file" : "network");
	xw_attr(x, "device", "disk");
	xw_open(x, "driver");
	xw_attr(x, "name", "qemu");
	xw_attr(x, "type", d->path && d->format ? d->format : "raw");
	xw_close(x);
	xw_open(x, "source");
	if (d->path) {
		xw_attr(x, "file", d->path);
	} else {
		xw_attr(x, "protocol", "nbd");
		if (d->nbd_export)
			xw_attr(x, "name", d->nbd_export);
		xw_open(x, "host");
		if (d->nbd_socket) {
			xw_attr(x, "transport", "unix");
			xw_attr(x, "socket", d->nbd_socket);
		} else {
			snprintf(port, sizeof(port), "%u", d->nbd_port ? d->nbd_port : 10809);
			xw_attr(x, "name", d->nbd_host);
			xw_attr(x, "port", port);
		}
		xw_close(x);
	}
	xw_close(x);
	xw_open(x, "target");
	xw_attr(x, "dev", dev);
	xw_attr(x, "bus", st->disk_bus);
	xw_close(x);
	if (boot)
		xw_empty(x, "boot", "order", "1");
	xw_close(x);
}

static void write_nic(struct xw *x, const struct lv_settings *st, const struct drv_nic *n)
{
	char mac[18];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	xw_open(x, "interface");
	xw_attr(x, "type", "network");
	xw_empty(x, "source", "network", n->network);
	xw_empty(x, "mac", "address", mac);
	xw_empty(x, "model", "type", st->nic_model);
	xw_close(x);
}

/* <serial> and <console> on one file (truncated at start), or on a pty */
static void write_console(struct xw *x, const char *log)
{
	for (int console = 0; console < 2; console++) {
		xw_open(x, console ? "console" : "serial");
		xw_attr(x, "type", log ? "file" : "pty");
		if (log) {
			xw_open(x, "source");
			xw_attr(x, "path", log);
			xw_attr(x, "append", "off");
			xw_close(x);
		}
		xw_open(x, "target");
		if (console)
			xw_attr(x, "type", "serial");
		xw_attr(x, "port", "0");
		xw_close(x);
		xw_close(x);
	}
}

static void write_devices(struct xw *x, const struct lv_settings *st, const struct drv_vm *vm)
{
	xw_open(x, "devices");
	if (!strcmp(st->disk_bus, "scsi")) {
		xw_open(x, "controller");
		xw_attr(x, "type", "scsi");
		xw_attr(x, "model", "virtio-scsi");
		xw_close(x);
	}
	for (size_t i = 0; i < vm->n_disks; i++)
		write_disk(x, st, &vm->disks[i], i, i == 0 && !st->kernel);
	for (size_t i = 0; i < vm->n_nics; i++)
		write_nic(x, st, &vm->nics[i]);
	write_console(x, vm->serial_log);
	if (strcmp(st->graphics, "none")) {
		xw_open(x, "graphics");
		xw_attr(x, "type", st->graphics);
		xw_attr(x, "autoport", "yes");
		xw_attr(x, "listen", "127.0.0.1");
		xw_close(x);
	}
	xw_close(x);
}

int lv_domain_xml(const struct lv_settings *st, const struct drv_vm *vm, const char *hash,
		  char **out, char *err, size_t errlen)
{
	int rc = check_vm(vm, err, errlen);
	if (rc)
		return rc;
	struct xw x;
	if ((rc = xw_begin(&x)))
		return rc;
	char num[24];
	xw_open(&x, "domain");
	xw_attr(&x, "type", st->domain_type);
	xw_elem(&x, "name", vm->name);
	xw_mark(&x, hash);
	snprintf(num, sizeof(num), "%" PRIu64, vm->memory_mib);
	xw_open(&x, "memory");
	xw_attr(&x, "unit", "MiB");
	xw_note(&x, xmlTextWriterWriteString(x.w, X(num)));
	xw_close(&x);
	snprintf(num, sizeof(num), "%" PRIu32, vm->cpus);
	xw_elem(&x, "vcpu", num);
	write_os(&x, st, vm);
	xw_open(&x, "features");
	xw_empty(&x, "acpi", NULL, NULL);
	xw_empty(&x, "apic", NULL, NULL);
	if (vm->uefi && !strcmp(st->secure_boot, "yes"))
		xw_empty(&x, "smm", "state", "on");	/* secure boot needs SMM */
	xw_close(&x);
	if (st->cpu_mode)
		xw_empty(&x, "cpu", "mode", st->cpu_mode);
	xw_elem(&x, "on_poweroff", "destroy");
	xw_elem(&x, "on_reboot", "restart");
	xw_elem(&x, "on_crash", "destroy");
	write_devices(&x, st, vm);
	xw_close(&x);
	rc = xw_finish(&x, out);
	if (rc)
		snprintf(err, errlen, "out of memory writing the XML of VM %s", vm->name);
	return rc;
}

int lv_network_xml(const struct drv_network *n, const char *hash, char **out, char *err,
		   size_t errlen)
{
	if (bad_name(n->name) || n->prefix > 32 || (n->host_addr && !n->prefix)) {
		snprintf(err, errlen, "bad isolated network '%s' (address prefix /%u)",
			 n->name ? n->name : "", n->prefix);
		return -EINVAL;
	}
	struct xw x;
	int rc = xw_begin(&x);
	if (rc)
		return rc;
	xw_open(&x, "network");
	xw_elem(&x, "name", n->name);
	xw_mark(&x, hash);
	xw_empty(&x, "bridge", "stp", "off");
	if (n->host_addr) {
		char addr[16], prefix[4];
		uint32_t a = n->host_addr;
		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255,
			 a & 255);
		snprintf(prefix, sizeof(prefix), "%u", n->prefix);
		xw_open(&x, "ip");
		xw_attr(&x, "address", addr);
		xw_attr(&x, "prefix", prefix);
		xw_close(&x);
	}
	xw_close(&x);
	rc = xw_finish(&x, out);
	if (rc)
		snprintf(err, errlen, "out of memory writing the XML of network %s", n->name);
	return rc;
}

void lv_hash(const char *xml, char out[LV_HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(xml, strlen(xml), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		memset(md, 0, sizeof(md));	/* only without memory: never matches a mark */
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- reading ----------------------------------------------------------------------- */

static bool is_hash(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == LV_HASH_HEX;
}

int lv_xml_mark(const char *xml, size_t len, char out[LV_HASH_HEX + 1])
{
	if (len > INT32_MAX)
		return -EBADMSG;
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -EBADMSG;
	int found = 0;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	for (xmlNodePtr m = root ? root->children : NULL; m && !found; m = m->next) {
		if (m->type != XML_ELEMENT_NODE || strcmp((const char *)m->name, "metadata"))
			continue;
		for (xmlNodePtr e = m->children; e && !found; e = e->next) {
			if (e->type != XML_ELEMENT_NODE || strcmp((const char *)e->name, "def") ||
			    !e->ns || !e->ns->href || strcmp((const char *)e->ns->href, LV_NS_URI))
				continue;
			xmlChar *h = xmlGetNoNsProp(e, X("hash"));
			if (h && is_hash((const char *)h)) {
				memcpy(out, h, LV_HASH_HEX + 1);
				found = 1;
			}
			xmlFree(h);
		}
	}
	xmlFreeDoc(doc);
	return found;
}
