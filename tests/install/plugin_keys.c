/*
 * plugin_keys - print the settings keys each plugin accepts, as the daemon
 * sees them: its declared settings (`schema`, ABI 2), else its ops table's
 * NULL-terminated `settings` list.
 *
 *   plugin_keys PLUGIN.so...
 *
 * One line per plugin: its name, then its keys, separated by blanks. The
 * manual page test compares these lines with hpcd.ini(5) and the README.
 * Exit 1 when a file does not load or has no entry point.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "hpc/plugin.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "plugin_keys: %s\n", dlerror());
			return 1;
		}
		hpc_plugin_entry_fn entry = (hpc_plugin_entry_fn)dlsym(h, HPC_PLUGIN_ENTRY_NAME);
		const struct hpc_plugin_ops *ops = entry ? entry() : NULL;
		if (!ops || !ops->name) {
			fprintf(stderr, "plugin_keys: %s: no ops table\n", argv[i]);
			return 1;
		}
		printf("%s", ops->name);
		if (ops->schema)
			for (const struct hpc_setting_spec *s = ops->schema; s->key; s++)
				printf(" %s", s->key);
		else
			for (const char *const *s = ops->settings; s && *s; s++)
				printf(" %s", *s);
		printf("\n");
		/* Not closed: some plugins pin libraries (libgomp) on purpose. */
	}
	return 0;
}
