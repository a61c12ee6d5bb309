#include "daemon/guard.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/loader.h"

static const int guarded_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};

/* What was installed before us (the default, or a sanitizer's handler). */
static struct sigaction previous[NSIG];

/* Set only while the thread is inside a guarded run(). */
static __thread sigjmp_buf *guard_env;
static __thread void *alt_stack;

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	sigjmp_buf *env = guard_env;
	if (env) {
		guard_env = NULL;
		siglongjmp(*env, sig);
	}
	/* Not ours to recover: put the previous handler back and return, so the
	 * faulting instruction runs again and meets it (and the default action
	 * ends the process with the right signal and a core). */
	sigaction(sig, &previous[sig], NULL);
}

int hpcd_guard_init(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
#ifndef __SANITIZE_THREAD__
	/* ThreadSanitizer loses track of a siglongjmp out of an alternate stack;
	 * its builds contain crashes but not stack overflows. */
	sa.sa_flags |= SA_ONSTACK;
#endif
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(guarded_signals) / sizeof(guarded_signals[0]); i++)
		if (sigaction(guarded_signals[i], &sa, &previous[guarded_signals[i]]) < 0)
			return -errno;
	return 0;
}

int hpcd_guard_thread_init(void)
{
	size_t size = 64 * 1024;
	alt_stack = malloc(size);
	if (!alt_stack)
		return -ENOMEM;
	stack_t ss = {.ss_sp = alt_stack, .ss_size = size, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) < 0) {
		free(alt_stack);
		alt_stack = NULL;
		return -errno;
	}
	return 0;
}

void hpcd_guard_thread_fini(void)
{
	if (!alt_stack)
		return;
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	free(alt_stack);
	alt_stack = NULL;
}

int hpcd_guard_run(struct hpcd_backend *b, struct hpc_job *job, int *sig)
{
	sigjmp_buf env;
	/* savemask = 1: the handler runs with the signal blocked; jumping back
	 * restores the mask of this point. */
	int s = sigsetjmp(env, 1);
	if (s) {
		*sig = s;
		hpcd_backend_mark_broken(b, s);
		return -EFAULT;
	}
	guard_env = &env;
	int rc = hpcd_backend_run(b, job);
	guard_env = NULL;
	return rc;
}
