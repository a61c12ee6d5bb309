/*
 * plugins/base/settings.h - reading a section's settings by a declared
 * table (struct hpc_setting_spec in hpc/plugin.h).
 *
 * One parser for both sides of the boundary: the daemon checks each value
 * with it before open() (so a bad value is refused with the config's file
 * and line), and a plugin's open() stores the values into its own settings
 * struct with it. Messages are built here, once, from the table: "workers
 * must be a whole number from 1 to 256, not \"0\"."
 *
 * Private to the project (not part of any ABI): the daemon and each plugin
 * link their own copy.
 */
#ifndef HPCB_SETTINGS_H
#define HPCB_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "hpc/plugin.h"

/* The entry for key in schema, or NULL. */
const struct hpc_setting_spec *hpcb_settings_find(const struct hpc_setting_spec *schema,
						  const char *key);

/*
 * What spec accepts, in words: "a whole number from 1 to 256", "auto or a
 * whole number of rows from 1 to 1099511627776", "static or dynamic",
 * "true or false", "any text". Returns the length, like snprintf.
 */
int hpcb_settings_accepts(const struct hpc_setting_spec *spec, char *buf, size_t len);

/*
 * Parse value by spec; when store is not NULL, write the value at store +
 * spec->offset (see struct hpc_setting_spec for each type's C type).
 * Returns 0, or -EINVAL with one sentence in err ("KEY must be ..., not
 * \"VALUE\".").
 */
int hpcb_settings_parse(const struct hpc_setting_spec *spec, const char *value, void *store,
			char *err, size_t errlen);

/*
 * open()'s part: store every setting of args into conf by schema. Refuses
 * an unknown key, a key given twice and a bad value, with one sentence in
 * args->err and the culprit's index in args->err_setting. *given (may be
 * NULL) gets bit i set for each schema[i] the section gave (at most 64
 * entries). Keys not given keep what conf held: the caller's defaults.
 * Returns 0 or -EINVAL.
 */
int hpcb_settings_apply(const struct hpc_setting_spec *schema, struct hpc_open_args *args,
			void *conf, uint64_t *given);

/* The index in args->settings of key (for blaming it later), or -1 when not given. */
int32_t hpcb_settings_index(const struct hpc_open_args *args, const char *key);

#endif /* HPCB_SETTINGS_H */
