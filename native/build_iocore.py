"""cffi build script for the native IO core (API mode, out-of-line).

``setup.py`` names ``native/build_iocore.py:ffibuilder``; running this file
directly (``python native/build_iocore.py``) also builds the extension in place.
The module lands at ``telebot/fileio/_iocore*.so``; telebot.fileio falls back to
pure Python when it is missing (and a build without a compiler says so and exits 0).
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _relative(name: str) -> str:
    """Path of a file in native/ relative to the working directory.

    setuptools wants relative source paths; setup.py runs from the repo root.
    """
    return os.path.relpath(os.path.join(HERE, name))


# Mirror of native/iocore.h (cffi cannot parse the preprocessor), plus the
# one Python callback the C core calls between chunks.
CDEF = """
#define IOC_CLONE 0
#define IOC_COPY_RANGE 1
#define IOC_SENDFILE 2
#define IOC_READWRITE 3
#define IOC_PATH_MAX 4096
#define IOC_NAME_LINKAT 0
#define IOC_NAME_PROC 1
#define IOC_NAME_TEMP 2

typedef int (*ioc_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct ioc_job {
    int level;
    int fsync;
    int umask;
    int64_t chunk;
    ioc_progress_fn progress;
    void *ctx;
    int64_t total;
    int64_t done;
    int64_t files;
    char err_path[4096];
} ioc_job;

int64_t ioc_copy_fd(int in_fd, int out_fd, int64_t size, ioc_job *job);
int64_t ioc_copy_path(const char *src, const char *tmp, const char *dst, ioc_job *job);
int64_t ioc_copy_file(const char *src, const char *dst, int level, int umask_bits);
int64_t ioc_copy_range(int in_fd, int out_fd, int64_t in_off, int64_t length, ioc_job *job);
int64_t ioc_copy_tree(const char *src, const char *dst, ioc_job *job);
int ioc_rename_noreplace(const char *src, const char *dst);
int ioc_naming(int set);
int64_t ioc_fs_magic(const char *path);

extern "Python" int ioc_python_progress(void *ctx, int64_t done, int64_t total);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "telebot.fileio._iocore",
    '#include "iocore.h"',
    sources=[_relative("iocore.c")],
    include_dirs=[_relative(".")],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra"],
)

def main() -> int:
    """Build in place; without a working compiler say so in one line and succeed (the C core is
    optional: telebot.fileio falls back to pure Python), like ``setup.py build_ext``."""
    from cffi import VerificationError

    os.chdir(os.path.dirname(HERE))
    try:
        ffibuilder.compile(verbose=True)
    except VerificationError as exc:  # cffi's wrapper of the compiler/linker failure
        reason = str(exc).strip().splitlines()[-1]
        print(f"telebot: the C IO core was not built ({reason}); the pure-Python IO path "
              "will be used", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
