/*
 * daemon/guard.h - crash containment for in-process backends.
 *
 * A plugin's run() that faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL) in the
 * thread that called it is unwound back to the caller instead of taking the
 * daemon down: the job fails, the instance is marked broken (its state may be
 * corrupt) and refuses jobs until a reload replaces it; every other client
 * and backend keeps working. A fault outside a guarded call, or in a thread
 * the plugin started itself (an OpenMP worker, say), still ends the process
 * as before: there is no caller to return to.
 */
#ifndef HPCD_GUARD_H
#define HPCD_GUARD_H

#include "hpc/plugin.h"

struct hpcd_backend;

/* Install the fault handlers, once per process, before threads start. */
int hpcd_guard_init(void);

/* Give the calling thread an alternate signal stack (stack overflows in a
 * plugin need one to be caught); undone by hpcd_guard_thread_fini(). */
int hpcd_guard_thread_init(void);
void hpcd_guard_thread_fini(void);

/*
 * hpcd_backend_run(b, job), guarded. Returns its result, or -EFAULT with
 * *sig set to the signal when run() crashed (b is then marked broken).
 */
int hpcd_guard_run(struct hpcd_backend *b, struct hpc_job *job, int *sig);

#endif /* HPCD_GUARD_H */
