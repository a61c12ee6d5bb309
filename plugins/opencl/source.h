/*
 * plugins/opencl/source.h - the OpenCL C source of the opencl backend's
 * kernels, embedded as a string and built once per element type when an
 * instance opens (see source.c for the kernels and their build options).
 */
#ifndef HPC_OPENCL_SOURCE_H
#define HPC_OPENCL_SOURCE_H

/* Rows of A one work-item of matvec_rows computes (the kernel's RB). */
#define HPC_CL_MATVEC_ROWS 4
/* Elements per vector load in every kernel (vload8). */
#define HPC_CL_VEC 8

/* NUL-terminated OpenCL C 1.2 source of all kernels. */
extern const char hpc_cl_source[];

#endif /* HPC_OPENCL_SOURCE_H */
