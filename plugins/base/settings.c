#include "plugins/base/settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const struct hpc_setting_spec *hpcb_settings_find(const struct hpc_setting_spec *schema,
						  const char *key)
{
	for (const struct hpc_setting_spec *s = schema; s && s->key; s++)
		if (key && strcmp(s->key, key) == 0)
			return s;
	return NULL;
}

/* "a|b|c" as "a, b or c". */
static int choices_words(const char *choices, char *buf, size_t len)
{
	size_t pos = 0;
	int n = 0;
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t wl = bar ? (size_t)(bar - p) : strlen(p);
		const char *sep = p == choices ? "" : bar ? ", " : " or ";
		n = snprintf(pos < len ? buf + pos : NULL, pos < len ? len - pos : 0, "%s%.*s", sep,
			     (int)wl, p);
		pos += n > 0 ? (size_t)n : 0;
		p += wl + (bar != NULL);
	}
	return (int)pos;
}

int hpcb_settings_accepts(const struct hpc_setting_spec *spec, char *buf, size_t len)
{
	switch (spec->type) {
	case HPC_SETTING_UINT:
		return snprintf(buf, len, "%s%sa whole number%s%s from %llu to %llu",
				spec->choices ? spec->choices : "", spec->choices ? " or " : "",
				spec->unit ? " of " : "", spec->unit ? spec->unit : "",
				(unsigned long long)spec->min, (unsigned long long)spec->max);
	case HPC_SETTING_BOOL:
		return snprintf(buf, len, "true or false");
	case HPC_SETTING_ENUM:
		return choices_words(spec->choices ? spec->choices : "", buf, len);
	default:
		return snprintf(buf, len, "any text");
	}
}

/* Digits only (no sign, space or suffix), so that "2x" or " 2" are refused, not read as 2. */
static int parse_u64(const char *s, uint64_t *out)
{
	if (!*s)
		return -EINVAL;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

/* The index of value among "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value)
{
	int i = 0;
	for (const char *p = choices; p && *p; i++) {
		const char *bar = strchr(p, '|');
		size_t wl = bar ? (size_t)(bar - p) : strlen(p);
		if (strlen(value) == wl && strncmp(p, value, wl) == 0)
			return i;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

int hpcb_settings_parse(const struct hpc_setting_spec *spec, const char *value, void *store,
			char *err, size_t errlen)
{
	if (!value)
		value = "";
	unsigned char *at = store ? (unsigned char *)store + spec->offset : NULL;
	switch (spec->type) {
	case HPC_SETTING_UINT: {
		uint64_t v;
		if (spec->choices && strcmp(value, spec->choices) == 0)
			v = 0;
		else if (parse_u64(value, &v) < 0 || v < spec->min || v > spec->max)
			break;
		if (at)
			memcpy(at, &v, sizeof(v));
		return 0;
	}
	case HPC_SETTING_BOOL: {
		int t = choice_index("true|yes|on|1", value) >= 0;
		int f = choice_index("false|no|off|0", value) >= 0;
		if (!t && !f)
			break;
		if (at)
			memcpy(at, &t, sizeof(t));
		return 0;
	}
	case HPC_SETTING_ENUM: {
		int i = choice_index(spec->choices, value);
		if (i < 0)
			break;
		unsigned u = (unsigned)i;
		if (at)
			memcpy(at, &u, sizeof(u));
		return 0;
	}
	case HPC_SETTING_STRING:
		if (at)
			memcpy(at, &value, sizeof(value));
		return 0;
	default:
		if (err && errlen)
			snprintf(err, errlen, "%s has a type (%u) this build does not know.",
				 spec->key, spec->type);
		return -EINVAL;
	}
	if (err && errlen) {
		char what[256];
		hpcb_settings_accepts(spec, what, sizeof(what));
		snprintf(err, errlen, "%s must be %s, not \"%s\".", spec->key, what, value);
	}
	return -EINVAL;
}

int hpcb_settings_apply(const struct hpc_setting_spec *schema, struct hpc_open_args *args,
			void *conf, uint64_t *given)
{
	uint64_t seen = 0;
	for (uint32_t i = 0; i < args->nsettings; i++) {
		const struct hpc_setting *s = &args->settings[i];
		const struct hpc_setting_spec *spec = hpcb_settings_find(schema, s->key);
		char why[512];
		if (!spec) {
			size_t pos = (size_t)snprintf(why, sizeof(why),
						      "no setting \"%s\" here; the keys are",
						      s->key ? s->key : "");
			for (const struct hpc_setting_spec *k = schema;
			     k && k->key && pos < sizeof(why); k++)
				pos += (size_t)snprintf(why + pos, sizeof(why) - pos, "%s %s%s",
							k == schema ? "" : ",", k->key,
							k[1].key ? "" : ".");
			args->err_setting = (int32_t)i;
			if (args->err && args->err_len)
				snprintf(args->err, args->err_len, "%s", why);
			return -EINVAL;
		}
		unsigned idx = (unsigned)(spec - schema);
		uint64_t bit = idx < 64 ? 1ull << idx : 0;
		if (seen & bit) {
			args->err_setting = (int32_t)i;
			if (args->err && args->err_len)
				snprintf(args->err, args->err_len, "%s is set more than once.",
					 s->key);
			return -EINVAL;
		}
		seen |= bit;
		if (hpcb_settings_parse(spec, s->value, conf, why, sizeof(why)) < 0) {
			args->err_setting = (int32_t)i;
			if (args->err && args->err_len)
				snprintf(args->err, args->err_len, "%s", why);
			return -EINVAL;
		}
	}
	if (given)
		*given = seen;
	return 0;
}

int32_t hpcb_settings_index(const struct hpc_open_args *args, const char *key)
{
	for (uint32_t i = 0; i < args->nsettings; i++)
		if (args->settings[i].key && strcmp(args->settings[i].key, key) == 0)
			return (int32_t)i;
	return -1;
}
