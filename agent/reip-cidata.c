/* Re-IP for cloud-init guests: a NoCloud seed (contract in reip.h, reip_write_cidata).
 *
 * cloud-init's NoCloud datasource finds a file system labelled `cidata` (vfat or iso9660)
 * and reads meta-data, user-data and network-config from it. We write ISO 9660 with
 * libisofs (the library behind xorriso, in Debian): in-process, no temporary directory, no
 * external command whose absence or output we would have to interpret, and the format the
 * cloud-init documentation's own example builds (genisoimage -volid cidata -joliet -rock).
 *
 * network-config is version 2 (netplan's schema, which cloud-init reads and renders to
 * whatever the guest uses): one entry per NIC matched by its MAC, never renamed; a static
 * NIC gets its address, `gateway4` (understood by every cloud-init renderer, unlike
 * `routes: to: default` in older releases) and nameservers; a DHCP NIC dhcp4. meta-data
 * holds only the instance-id, a hash of the VM's name and network config: cloud-init
 * applies network config on the first boot of a new instance, so a new configuration
 * takes effect, and the same one twice is the same instance. */
#include "agent/reip.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBISOFS_WITHOUT_LIBBURN 1	/* libisofs then declares struct burn_source */
#include <libisofs/libisofs.h>
#include <openssl/evp.h>

#include "common/atomic-file.h"
#include "common/dbuf.h"
#include "common/json.h"
#include "common/banned.h"

#define SEED_MAX (16u << 20)
#define ISO_BLOCK 2048

static pthread_once_t iso_once = PTHREAD_ONCE_INIT;
static int iso_ready;

static void iso_setup(void)
{
	iso_ready = iso_init_with_flag(1) == 1;	/* no locale from the environment */
	if (iso_ready)
		iso_set_msgs_severities((char *)"NEVER", (char *)"NEVER", (char *)"ferry");
}

/* ---- the three files ---- */

static int ip_list(struct dbuf *b, const uint32_t *v, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		char a[16];
		vm_ipv4_format(v[i], a);
		rc = dbuf_printf(b, "%s%s", i ? ", " : "", a);
	}
	return rc;
}

static int nic_config(struct dbuf *b, size_t i, const struct vm_nic *n)
{
	char mac[18], a[16];
	vm_mac_format(n->mac, mac);
	int rc = dbuf_printf(b, "  nic%zu:\n    match:\n      macaddress: \"%s\"\n", i, mac);
	if (rc == 0 && n->mode != VM_NIC_STATIC)
		return dbuf_printf(b, "    dhcp4: true\n");
	vm_ipv4_format(n->addr, a);
	if (rc == 0)
		rc = dbuf_printf(b, "    dhcp4: false\n    addresses:\n      - %s/%u\n", a, n->prefix);
	if (rc == 0 && n->gw) {
		vm_ipv4_format(n->gw, a);
		rc = dbuf_printf(b, "    gateway4: %s\n", a);
	}
	if (rc == 0 && n->n_dns) {
		rc = dbuf_printf(b, "    nameservers:\n      addresses: [");
		if (rc == 0)
			rc = ip_list(b, n->dns, n->n_dns);
		if (rc == 0)
			rc = dbuf_printf(b, "]\n");
	}
	return rc;
}

static int network_config(const struct vm_desc *vm, struct dbuf *b)
{
	int rc = dbuf_printf(b, "# written by ferry-agent (Re-IP) for VM %s\nversion: 2\n"
			     "ethernets:\n", vm->name);
	for (size_t i = 0; i < vm->n_nics && !rc; i++)
		rc = nic_config(b, i, &vm->nics[i]);
	if (rc == 0 && vm->n_nics == 0)
		rc = dbuf_printf(b, "  {}\n");
	return rc;
}

static int meta_data(const struct vm_desc *vm, const struct dbuf *net, struct dbuf *b)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(c, vm->name, strlen(vm->name) + 1) &&
		 EVP_DigestUpdate(c, net->data, net->len) && EVP_DigestFinal_ex(c, h, &hl);
	EVP_MD_CTX_free(c);
	if (!ok || hl < 8)
		return -ENOMEM;
	int rc = dbuf_printf(b, "instance-id: ferry-");
	for (size_t i = 0; i < 8 && !rc; i++)
		rc = dbuf_printf(b, "%02x", h[i]);
	return rc ? rc : dbuf_printf(b, "\n");
}

/* ---- the ISO ---- */

static int add(IsoImage *img, const char *name, const struct dbuf *content)
{
	unsigned char *copy = malloc(content->len ? content->len : 1);
	IsoStream *st;
	if (!copy)
		return -ENOMEM;
	memcpy(copy, content->data, content->len);
	if (iso_memory_stream_new(copy, content->len, &st) < 0) {
		free(copy);
		return -ENOMEM;
	}
	int r = iso_image_add_new_file(img, iso_image_get_root(img), name, st, NULL);
	if (r < 0)
		iso_stream_unref(st);
	return r < 0 ? -EIO : 0;
}

static int build_iso(const struct dbuf *files[3], struct dbuf *out)
{
	static const char *const names[3] = { "meta-data", "user-data", "network-config" };
	IsoImage *img = NULL;
	IsoWriteOpts *o = NULL;
	struct burn_source *bs = NULL;
	unsigned char blk[ISO_BLOCK];
	int rc = iso_image_new("cidata", &img) == 1 ? 0 : -ENOMEM;
	if (rc == 0)
		iso_image_set_volume_id(img, "cidata");
	for (size_t i = 0; i < 3 && rc == 0; i++)
		rc = add(img, names[i], files[i]);
	if (rc == 0 && iso_write_opts_new(&o, 0) != 1)
		rc = -ENOMEM;
	if (rc == 0 && (iso_write_opts_set_rockridge(o, 1) < 0 || iso_write_opts_set_joliet(o, 1) < 0 ||
			iso_image_create_burn_source(img, o, &bs) < 0))
		rc = -EIO;
	while (rc == 0) {
		int n = bs->read_xt(bs, blk, ISO_BLOCK);
		if (n == 0)
			break;
		rc = n == ISO_BLOCK ? dbuf_add(out, blk, ISO_BLOCK) : -EIO;
	}
	if (bs) {
		if (rc < 0 && bs->cancel)
			bs->cancel(bs);
		bs->free_data(bs);
		free(bs);
	}
	if (o)
		iso_write_opts_free(o);
	if (img)
		iso_image_unref(img);
	return rc;
}

int reip_write_cidata(const char *path, const struct vm_desc *vm, char *err, size_t errlen)
{
	struct dbuf net = DBUF_INIT(1 << 20), meta = DBUF_INIT(4096), user = DBUF_INIT(4096),
		    iso = DBUF_INIT(SEED_MAX);
	pthread_once(&iso_once, iso_setup);
	if (!iso_ready) {
		snprintf(err, errlen, "libisofs cannot be initialised");
		return -EIO;
	}
	int rc = network_config(vm, &net);
	if (rc == 0)
		rc = meta_data(vm, &net, &meta);
	if (rc == 0)
		rc = dbuf_printf(&user, "#cloud-config\n");
	const struct dbuf *files[3] = { &meta, &user, &net };
	if (rc == 0 && (rc = build_iso(files, &iso)) < 0)
		snprintf(err, errlen, "building the cidata ISO image failed");
	if (rc == 0 && (rc = atomic_file_write(path, iso.data, iso.len, 0644)) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "out of memory");
	dbuf_release(&net);
	dbuf_release(&meta);
	dbuf_release(&user);
	dbuf_release(&iso);
	return rc;
}
