/*
 * A program outside the build, compiled by the install test against the
 * installed headers and library (pkg-config --cflags --libs hpc): a matvec
 * and a dot on the daemon at argv[1], checked against the exact results.
 */
#include <stdio.h>
#include <hpc/client.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: client SOCKET\n");
		return 2;
	}
	enum { m = 3, n = 2 };
	struct hpc_client *c;
	int rc = hpc_connect(argv[1], 1 << 20, &c);
	if (rc < 0) {
		fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1], hpc_strerror(rc, 0));
		return 1;
	}
	double *A = hpc_alloc(c, m * n * sizeof(double));
	double *x = hpc_alloc(c, n * sizeof(double));
	double *y = hpc_alloc(c, m * sizeof(double));
	if (!A || !x || !y) {
		fprintf(stderr, "client: hpc_alloc failed\n");
		return 1;
	}
	for (int i = 0; i < m * n; i++)
		A[i] = i; /* 0 1 / 2 3 / 4 5 */
	x[0] = 1, x[1] = 2;
	struct hpc_request r = {.op = HPC_OP_MATVEC, .m = m, .n = n, .a = A, .b = x, .out = y};
	struct hpc_completion done = {0};
	rc = hpc_run(c, &r, &done);
	if (rc < 0) {
		fprintf(stderr, "client: matvec: %s\n", hpc_strerror(rc, done.detail));
		return 1;
	}
	struct hpc_request d = {.op = HPC_OP_DOT, .n = n, .a = x, .b = x, .backend = "serial"};
	rc = hpc_run(c, &d, &done);
	if (rc < 0) {
		fprintf(stderr, "client: dot: %s\n", hpc_strerror(rc, done.detail));
		return 1;
	}
	printf("%g %g %g %g\n", y[0], y[1], y[2], done.result);
	int ok = y[0] == 2 && y[1] == 8 && y[2] == 14 && done.result == 5;
	hpc_close(c); /* unmaps the arena: y is gone */
	return !ok;
}
