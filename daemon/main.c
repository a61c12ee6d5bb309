/*
 * hpcd - the compute daemon. See SPEC.md "hpcd" for the contract:
 *
 *   hpcd -c FILE [-s SOCKET] [--check] [--version] [--help]
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/version.h"
#include "daemon/world.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hpcd -c FILE [-s SOCKET] [--check] [--version] [--help]\n"
		   "\n"
		   "  -c, --config FILE   the INI config (see configs/hpcd.ini)\n"
		   "  -s, --socket PATH   serve on PATH instead of the config's socket\n"
		   "                      (also $HPCD_SOCKET)\n"
		   "      --check         parse the config, open every backend, report, exit\n"
		   "      --version       print the version and exit\n"
		   "  -h, --help          this text (manual: hpcd(8); the config: hpcd.ini(5))\n"
		   "\n"
		   "Signals: SIGHUP reloads the config; SIGTERM or SIGINT stop gracefully.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
	    {"check", no_argument, NULL, 'C'},        {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *sock = NULL;
	int check = 0, opt;
	while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'V':
			printf("hpcd %s\n", HPCD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hpcd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!config) {
		fprintf(stderr, "hpcd: a config file is required (-c FILE)\n");
		usage(stderr);
		return 2;
	}
	if (!sock) {
		const char *env = getenv("HPCD_SOCKET");
		if (env && *env)
			sock = env;
	}

	/*
	 * A shared service's idle OpenMP threads should sleep, not spin: libgomp's
	 * default spinning after every job takes a core from the clients (on two
	 * cores, a client that computes while it waits loses half its speed).
	 * Set before any plugin loads libgomp, which reads it once; a user who
	 * prefers the spin's lower latency sets OMP_WAIT_POLICY=active.
	 */
	setenv("OMP_WAIT_POLICY", "passive", 0);

	/* Before any plugin opens (see hpcd_server_block_signals). */
	sigset_t set;
	hpcd_server_block_signals(&set);

	char err[2048];
	struct hpcd_config *cfg;
	if (hpcd_config_load(config, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "hpcd: %s\n", err);
		return 1;
	}
	hpcd_log_set_level(cfg->log_level);

	struct hpcd_world *world;
	if (hpcd_world_build(cfg, NULL, 1, &world, err, sizeof(err)) < 0) {
		fprintf(stderr, "hpcd: %s\n", err);
		hpcd_config_free(cfg);
		return 1;
	}
	if (check) {
		static char text[65536];
		hpcd_world_describe(world, text, sizeof(text));
		printf("config %s: ok\nsocket %s\n"
		       "limits max_clients %u, max_arena_mb %llu, max_total_arena_mb %llu\n"
		       "%u backends, default %s\n%s",
		       cfg->path, sock ? sock : cfg->socket, cfg->max_clients,
		       (unsigned long long)(cfg->max_arena_bytes >> 20),
		       (unsigned long long)(cfg->max_total_arena_bytes >> 20),
		       hpcd_world_count(world), hpcd_world_default_name(world), text);
		hpcd_world_put(world);
		hpcd_config_free(cfg);
		return 0;
	}

	static struct hpcd_server srv;
	if (hpcd_server_init(&srv, cfg, world, config, sock, err, sizeof(err)) < 0) {
		fprintf(stderr, "hpcd: %s\n", err);
		hpcd_server_fini(&srv);
		return 1;
	}
	int rc = hpcd_server_run(&srv);
	hpcd_server_fini(&srv);
	return rc ? 1 : 0;
}
