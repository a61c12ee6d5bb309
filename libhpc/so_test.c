/*
 * Built by so_test.sh with plain gcc against include/ and libhpc.so, outside
 * Bazel: connects to the daemon at argv[1], runs a 3 x 2 matvec on the serial
 * backend and checks the result, and asks for the status text.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hpc/client.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: so_test SOCKET\n");
		return 2;
	}
	struct hpc_client *c = NULL;
	int rc = -ENOENT;
	for (int i = 0; i < 1000 && rc < 0; i++) { /* 10 s for the daemon to come up */
		rc = hpc_connect(argv[1], 1 << 20, &c);
		if (rc < 0)
			usleep(10000);
	}
	if (rc < 0) {
		fprintf(stderr, "hpc_connect %s: %s\n", argv[1], hpc_strerror(rc, 0));
		return 1;
	}
	double *A = hpc_alloc(c, 6 * sizeof(double));
	double *x = hpc_alloc(c, 2 * sizeof(double));
	double *y = hpc_alloc(c, 3 * sizeof(double));
	if (!A || !x || !y) {
		fprintf(stderr, "hpc_alloc failed\n");
		return 1;
	}
	for (int i = 0; i < 6; i++)
		A[i] = i + 1; /* [[1 2] [3 4] [5 6]] */
	x[0] = 1;
	x[1] = -1;
	struct hpc_request r = {
	    .op = HPC_OP_MATVEC, .m = 3, .n = 2, .a = A, .b = x, .out = y, .backend = "serial"};
	struct hpc_completion done;
	memset(&done, 0, sizeof(done));
	rc = hpc_run(c, &r, &done);
	if (rc < 0) {
		fprintf(stderr, "hpc_run: %s\n", hpc_strerror(done.status, done.detail));
		return 1;
	}
	if (y[0] != -1 || y[1] != -1 || y[2] != -1) {
		fprintf(stderr, "wrong result %g %g %g\n", y[0], y[1], y[2]);
		return 1;
	}
	struct hpc_request bad = {.op = HPC_OP_SUM, .n = 2, .a = x, .backend = "nonesuch"};
	rc = hpc_run(c, &bad, &done);
	if (rc != -ENOENT || done.detail != HPC_E_NO_BACKEND) {
		fprintf(stderr, "unknown backend gave %d detail %u\n", rc, done.detail);
		return 1;
	}
	hpc_close(c);
	char text[4096];
	rc = hpc_control(argv[1], HPC_CTL_STATUS, text, sizeof(text));
	if (rc < 0) {
		fprintf(stderr, "status: %s\n", hpc_strerror(rc, 0));
		return 1;
	}
	printf("matvec ok; status:\n%s\n", text);
	return 0;
}
