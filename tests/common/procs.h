// tests/common/procs.h - what the tests of out-of-process backends (forkpool's
// workers, mpi's ranks) ask /proc about other processes. Part of
// //tests/common:plugin_harness.
#ifndef HPC_TESTS_COMMON_PROCS_H
#define HPC_TESTS_COMMON_PROCS_H

#include <sys/types.h>

#include <string>
#include <vector>

namespace hpctest
{

// Whether pid is a live process (a zombie counts as gone: it runs nothing).
bool Alive(pid_t pid);

// Processes other than this one whose command line contains token (zombies
// have none and are skipped).
std::vector<pid_t> ProcessesWith(const std::string &token);

// argv[0] of a process ("" if it is gone).
std::string Argv0(pid_t pid);

// Whether pid maps a memfd whose name contains name.
bool MapsMemfd(pid_t pid, const std::string &name);

} // namespace hpctest

#endif // HPC_TESTS_COMMON_PROCS_H
