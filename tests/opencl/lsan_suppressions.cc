// LeakSanitizer suppressions for the OpenCL runtime under --config=asan,
// compiled into the test programs that load it (LSan asks the program for
// them; nothing needs to be passed on the command line). They name the ICD
// loader, PoCL and the LLVM it compiles kernels with, never hpcd's code:
// those libraries keep process-lifetime allocations (device lists, compiler
// state) that they free only at exit or never.
extern "C" const char *__lsan_default_suppressions();

extern "C" const char *__lsan_default_suppressions()
{
	return "leak:libOpenCL.so\n"
	       "leak:libpocl.so\n"
	       "leak:libLLVM\n"
	       "leak:libclang-cpp\n";
}
