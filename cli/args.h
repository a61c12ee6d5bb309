/*
 * cli/args.h - how the command-line programs (hpcrun, hpcgen) read numbers
 * from their arguments, so that both accept and refuse exactly the same words.
 */
#ifndef HPC_CLI_ARGS_H
#define HPC_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* A decimal integer and nothing else: no sign, no blanks, no suffix, no overflow. */
bool hpccli_parse_u64(const char *s, uint64_t *out);

#endif /* HPC_CLI_ARGS_H */
