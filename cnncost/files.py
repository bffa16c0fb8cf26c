"""Reading the files users name: regular files only, bounded in size, decoded as UTF-8.

A spec, budget, config or baseline path may name a directory, a FIFO that never delivers, a
device such as /dev/zero that never ends, or a file far larger than any real one; each is an
error naming the file before anything is read, never a hang.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cnncost.errors import CnncostError, Problem, SpecError

MAX_SPEC_BYTES = 16 * 1024 * 1024  # 10,000 explicit layers are about 6 MB; blocks scale further
MAX_JSON_BYTES = 256 * 1024 * 1024  # an analysis of 100,000 layers is about 40 MB


def read_text(path: str | Path, *, limit: int = MAX_SPEC_BYTES, hint: str | None = None,
              error: type[CnncostError] = SpecError) -> str:
    """The text of a regular file of at most ``limit`` bytes, or ``error`` saying why not."""
    file = str(path)
    try:
        info = os.stat(file)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else
                    "a pipe" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "not a regular file")
            raise error(Problem(f"{file} is {kind}, not a file cnncost can read", hint=hint))
        if info.st_size > limit:
            raise error(Problem(f"{file} is {info.st_size:,} bytes; the limit is {limit:,}",
                                hint=hint))
        with open(file, "rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        raise error(Problem(f"no such file: {file}", hint=hint)) from None
    except OSError as exc:
        raise error(Problem(f"cannot read {file}: {exc.strerror or exc}", hint=hint)) from None
    if len(data) > limit:
        raise error(Problem(f"{file} is over {limit:,} bytes, the limit", hint=hint))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(Problem(f"{file} is not UTF-8 text (byte {exc.start:,})",
                            hint=hint or "cnncost reads UTF-8 text files")) from None


def is_file(path: str | Path) -> bool:
    """Whether ``path`` names an existing file; False, not an error, for a name the system
    cannot even look up (too long, or holding a NUL)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def exists(path: str | Path) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False
