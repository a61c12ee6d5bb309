/*
 * plugin_keys - print the settings keys each plugin accepts, as the daemon
 * sees them: its declared settings (`schema`, ABI 2), else its ops table's
 * NULL-terminated `settings` list.
 *
 *   plugin_keys PLUGIN.so...
 *   plugin_keys --schema PLUGIN.so...
 *
 * One line per plugin: its name, then its keys, separated by blanks. With
 * --schema, one line per declared setting instead, its fields separated by
 * tabs: plugin, key, type (uint, bool, enum, string), min, max, choices,
 * default ("-" for a field it does not have). The manual page test compares
 * these with hpcd.ini(5) and the README.
 * Exit 1 when a file does not load or has no entry point.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hpc/plugin.h"

static void print_schema(const struct hpc_plugin_ops *ops)
{
	static const char *const types[] = {[HPC_SETTING_UINT] = "uint",
					    [HPC_SETTING_BOOL] = "bool",
					    [HPC_SETTING_ENUM] = "enum",
					    [HPC_SETTING_STRING] = "string"};
	for (const struct hpc_setting_spec *s = ops->schema; s && s->key; s++) {
		const char *type = s->type < sizeof(types) / sizeof(types[0]) && types[s->type]
				       ? types[s->type]
				       : "?";
		printf("%s\t%s\t%s\t", ops->name, s->key, type);
		if (s->type == HPC_SETTING_UINT)
			printf("%" PRIu64 "\t%" PRIu64 "\t", s->min, s->max);
		else
			printf("-\t-\t");
		printf("%s\t%s\n", s->choices ? s->choices : "-", s->def ? s->def : "-");
	}
}

int main(int argc, char **argv)
{
	int schema = argc > 1 && strcmp(argv[1], "--schema") == 0;
	for (int i = 1 + schema; i < argc; i++) {
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
		if (schema) {
			print_schema(ops);
			continue;
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
