/*
 * Every public header, compiled as C (with the project's warnings, which
 * include -Wmissing-prototypes and -Wstrict-prototypes): headers_test.cc
 * does the same as C++. Each header stands alone, so each is included first
 * in a translation unit of its own through HEADER.
 */
#include HEADER
#include HEADER /* twice: the include guard works */

int hpc_headers_c_check(void);
int hpc_headers_c_check(void)
{
	return 0;
}
