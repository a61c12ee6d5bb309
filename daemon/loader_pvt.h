/*
 * daemon/loader_pvt.h - the loader's insides, shared by its files
 * (plugin_load.c, backend.c, registry.c, backend_format.c). Do not include
 * from anywhere else: daemon/loader.h is the component's interface.
 */
#ifndef HPCD_LOADER_PVT_H
#define HPCD_LOADER_PVT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "daemon/loader.h"

struct hpcd_plugin {
	struct hpcd_plugin *next; /* in the list of loaded plugins */
	char *path;
	/* Identity of the file it was loaded from. */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	void *dl;
	int memfd; /* the private copy's, else -1; kept open so that its /proc name stays unique */
	/* The daemon's own copy of the plugin's table, zeroed past what the
	 * plugin's header knew: every read of the table goes through it. */
	struct hpc_plugin_ops ops_copy;
	const struct hpc_plugin_ops *ops; /* &ops_copy */
	unsigned refs;                    /* under plugins_lock */
};

struct hpcd_backend {
	struct hpcd_backend *next_live; /* in live_backends, under live_lock */
	atomic_uint refs;
	atomic_int broken; /* crashed in run(): refuses jobs until a reload replaces it */
	char name[HPC_BACKEND_NAME_MAX + 1];
	uint64_t generation;
	struct hpcd_plugin *plugin;
	const struct hpc_plugin_ops *ops;
	void *state;
	char *config_dir;
	struct hpcd_backend_conf conf;
	struct hpc_host host;
	pthread_mutex_t info_lock; /* the daemon's own: never held across a plugin call */
	char info[512];            /* the last describe() line: what a broken instance shows */
};

/* printf into err (when it is not NULL): one message for the caller. */
void hpcd_loader_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line, one field: tabs and line breaks would break `hpcrun backends` parsing. */
void hpcd_loader_flatten(char *s);

/* The registry of open instances (registry.c), so that a region's end reaches
 * every instance that may cache it. */
void hpcd_registry_add(struct hpcd_backend *b);
/* Take b off the list of open instances; a broken one goes to a list of its own. */
void hpcd_registry_remove(struct hpcd_backend *b);

#endif /* HPCD_LOADER_PVT_H */
