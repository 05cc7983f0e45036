"""Build script: packages telebot and compiles the optional C IO core with cffi.

``python setup.py build_ext --inplace`` builds ``telebot/fileio/_iocore*.so`` next to
the sources; ``pip install .`` does the same into site-packages. When no C compiler
is present the package still installs and runs on the pure-Python fallback.
"""

from __future__ import annotations

from setuptools import find_packages, setup

setup(
    name="telebot",
    version="0.1.0",
    description="Self-hosted Telegram mirror/leech bot",
    packages=find_packages(include=["telebot", "telebot.*"]),
    python_requires=">=3.11",
    install_requires=[
        "python-telegram-bot~=22.8",
        "requests~=2.32",
        "urllib3~=2.2",
        "psutil~=7.0",
        "cffi~=2.0",
        "libtorrent~=2.1",
    ],
    setup_requires=["cffi>=1.17"],
    cffi_modules=["native/build_iocore.py:ffibuilder"],
    entry_points={"console_scripts": ["telebot=telebot.__main__:main"]},
)
