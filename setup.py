"""Build script: packages telebot and compiles the optional C IO core with cffi.

``python setup.py build_ext --inplace`` builds ``telebot/fileio/_iocore*.so`` next to
the sources; ``pip install .`` does the same into site-packages. When no C compiler
(or no Python headers) is present, the build prints one line saying the pure-Python IO
path will be used and succeeds: the package installs and runs on that fallback.
"""

from __future__ import annotations

import sys

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# What a machine without a working C toolchain raises: no compiler binary (ExecError, wrapped
# in CompileError, a CCompilerError), missing Python.h (CompileError), no linker (LinkError),
# no compiler known for the platform at all (PlatformError).
NO_TOOLCHAIN = (CCompilerError, ExecError, PlatformError)
FALLBACK_NOTE = "telebot: the C IO core was not built ({}); the pure-Python IO path will be used"


class OptionalBuildExt(build_ext):
    """build_ext that never fails for want of a compiler: the C IO core is an optional speed-up
    (telebot.fileio falls back to pure Python), so the build says so in one line and succeeds.
    cffi wraps this class (it subclasses whatever ``build_ext`` the distribution names).
    """

    def run(self) -> None:
        self._skipped: list[object] = []
        try:
            super().run()
        except NO_TOOLCHAIN as exc:
            _note(exc)

    def build_extension(self, ext: object) -> None:
        try:
            super().build_extension(ext)
        except NO_TOOLCHAIN as exc:
            self._skipped.append(ext)
            _note(exc)

    def copy_extensions_to_source(self) -> None:
        """``--inplace``: copy only what was built (a skipped extension has no file)."""
        everything = self.extensions
        self.extensions = [ext for ext in everything if ext not in self._skipped]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = everything


def _note(exc: BaseException) -> None:
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    print(FALLBACK_NOTE.format(reason), file=sys.stderr)


setup(
    name="telebot",
    version="0.1.0",
    description="Self-hosted Telegram mirror/leech bot",
    packages=find_packages(include=["telebot", "telebot.*"]),
    # 3.14: no libtorrent wheel yet (2.1.x ships cp311-cp313), so pip would try to build it.
    python_requires=">=3.11,<3.14",
    install_requires=[
        "python-telegram-bot~=22.8",
        "requests~=2.32",
        "urllib3~=2.2",
        "psutil~=7.0",
        "cffi~=2.0",
        "cryptography~=48.0",
        "yt-dlp~=2026.10",
        "deno~=2.9",
        "yt-dlp-ejs~=0.8",
        "libtorrent~=2.1",
        "regex~=2026.5",
        "celery[redis]~=5.7",
        "prometheus-client~=0.26",
        "feedparser~=6.0",
    ],
    cffi_modules=["native/build_iocore.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    entry_points={"console_scripts": ["telebot=telebot.__main__:main"]},
)
