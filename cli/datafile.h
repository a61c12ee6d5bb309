/*
 * cli/datafile.h - operand files of hpcrun and hpcgen: NumPy .npy files and
 * raw (headerless, little-endian, row-major) files.
 *
 * Reading is split in two so that data is never copied twice: hpc_df_open()
 * inspects a file (type, shape, where the data starts) without reading the
 * data, the caller then obtains memory of exactly info.data_bytes (for hpcrun,
 * inside the shared arena) and hpc_df_read() puts the data straight there.
 *
 * Which files are accepted (the product contract, SPEC "Data files"):
 *  - NAME.npy: format versions 1.0, 2.0 and 3.0; dtype '<f8' or '<f4';
 *    fortran_order False; 0, 1 or 2 dimensions. The file must hold exactly the
 *    bytes the header promises: a shorter file is truncated, and a longer one
 *    is refused too, because bytes after the array mean the file is not what
 *    its header says (numpy.load would silently ignore them).
 *  - any other name: raw, element type chosen by the caller (f64 unless
 *    --dtype f32), one dimension; the size must be a whole number of elements.
 *    A raw name on a file that starts with the .npy magic is refused, so that a
 *    header is never read as numbers.
 *
 * Errors: every function returns 0 or a negative errno, and, when err is not
 * NULL, puts one sentence naming the file and the problem into err (at most
 * errlen bytes, NUL-terminated), e.g.
 *   "A.npy: Fortran-order arrays are not supported; save with numpy.ascontiguousarray"
 * The sentence carries no program-name prefix; the caller adds its own.
 *
 * The host must be little-endian (checked at compile time).
 */
#ifndef HPC_CLI_DATAFILE_H
#define HPC_CLI_DATAFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpc/types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hpc_df_format {
	HPC_DF_RAW = 0,
	HPC_DF_NPY = 1,
};

/* Largest .npy header accepted (numpy itself refuses more than 10000 bytes by default). */
#define HPC_DF_NPY_HEADER_MAX (1u << 20)

/* What a file holds, as far as the header (or, for raw files, the size) tells. */
struct hpc_df_info {
	enum hpc_df_format format;
	uint32_t dtype;       /* enum hpc_dtype */
	unsigned ndim;        /* 0, 1 or 2; a raw file is 1-D */
	uint64_t shape[2];    /* the first ndim entries are valid, the others are 0 */
	uint64_t count;       /* number of elements: the product of the shape (1 for 0-D) */
	uint64_t data_offset; /* where the data starts in the file */
	uint64_t data_bytes;  /* count * element size; equals file size - data_offset */
	unsigned npy_major;   /* .npy format version 1, 2 or 3; 0 for raw files */
};

/* An opened operand file. */
struct hpc_df_file {
	int fd;           /* -1 when closed */
	const char *path; /* borrowed from the caller for messages; must outlive the file */
	struct hpc_df_info info;
};

/*
 * HPC_DF_NPY when path ends in ".npy" (case-sensitive, as NumPy writes it),
 * HPC_DF_RAW otherwise.
 */
enum hpc_df_format hpc_df_format_of(const char *path);

/*
 * Open path and inspect it without reading its data. raw_dtype (HPC_F64 or
 * HPC_F32) is the element type of a raw file; .npy files carry their own.
 * On success f owns an open descriptor (close it with hpc_df_close()) and
 * f->info describes the file. On failure f->fd is -1 and nothing is held.
 * Returns 0, -ENOENT/-EACCES/... from open(2), -EINVAL for a file that is not
 * acceptable (bad header, unsupported dtype, wrong size, ...), -EOVERFLOW for
 * sizes that overflow, -EIO for a read error.
 */
int hpc_df_open(const char *path, uint32_t raw_dtype, struct hpc_df_file *f, char *err,
		size_t errlen);

/*
 * Read all data of an opened file into buf, which must hold at least
 * f->info.data_bytes (len says how much it holds; -EINVAL otherwise). Short
 * reads and EINTR are retried. Returns 0, or -EIO when the file shrank since
 * hpc_df_open(), or the errno of pread(2).
 */
int hpc_df_read(const struct hpc_df_file *f, void *buf, size_t len, char *err, size_t errlen);

/* Close an opened file; harmless on a closed one. */
void hpc_df_close(struct hpc_df_file *f);

/* hpc_df_open() followed by hpc_df_close(): inspect a file by name. */
int hpc_df_inspect(const char *path, uint32_t raw_dtype, struct hpc_df_info *info, char *err,
		   size_t errlen);

/*
 * Write an array to path: .npy version 1.0 when format is HPC_DF_NPY (header
 * padded with spaces so that the data starts at a multiple of 64 bytes, as
 * numpy.save does), raw otherwise. ndim is 0, 1 or 2 and shape holds ndim
 * entries (may be NULL when ndim is 0); data holds the product of the shape
 * elements of dtype. The bytes go to a temporary file beside path that is
 * renamed over path once complete, so a failed write never leaves a partial
 * file at path (an existing file stays as it was). New files get mode 0666
 * minus the umask. Returns 0, -EINVAL for bad arguments, -EOVERFLOW for sizes
 * that overflow, or the errno of the failing system call.
 */
int hpc_df_write(const char *path, enum hpc_df_format format, uint32_t dtype, unsigned ndim,
		 const uint64_t *shape, const void *data, char *err, size_t errlen);

/*
 * Build the .npy version 1.0 header (magic, version, length, dict, padding)
 * for an array into buf. Returns its length (a multiple of 64), or -ENOSPC
 * when len is too small, -EINVAL for a bad dtype or ndim.
 */
ssize_t hpc_df_npy_header(char *buf, size_t len, uint32_t dtype, unsigned ndim,
			  const uint64_t *shape);

/*
 * Test seam (after SQLite's xSetSystemCall): replace write(2) for the writers
 * of this file; NULL restores it. Not thread-safe; meant for tests that make a
 * write fail half-way.
 */
typedef ssize_t (*hpc_df_write_fn)(int fd, const void *buf, size_t len);
void hpc_df_set_write_fn(hpc_df_write_fn fn);

#ifdef __cplusplus
}
#endif

#endif /* HPC_CLI_DATAFILE_H */
