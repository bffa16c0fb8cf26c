"""Reading the files users name, and writing the files they ask for.

Reading: regular files only, bounded in size, decoded as UTF-8.
A spec, budget, config or baseline path may name a directory, a FIFO that never delivers, a
device such as /dev/zero that never ends, or a file far larger than any real one; each is an
error naming the file before anything is read, never a hang.

Writing (``-o``): whole or not at all, with the mode the shell's ``>`` would give.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cnncost.core.errors import CnncostError, Problem, SpecError, UsageError

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


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else by
    setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(target: Path) -> int:
    """The mode the shell's ``>`` would leave: an existing regular file keeps its own, a new
    one gets 0o666 less the umask."""
    try:
        info = os.stat(target)
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def refuse_overwrite(source: str | Path, output: str | Path) -> None:
    """UsageError when ``-o output`` is the input file ``source``, by any name (a link, a
    relative path): a command never replaces what it reads."""
    try:
        same = os.path.samefile(source, output)
    except (OSError, ValueError):  # no output file yet, or no such input
        same = False
    if same:
        raise UsageError(Problem(f"-o {output} is the input file {source}; cnncost never "
                                 f"overwrites its input", hint="write to another file"))


def output_target(path: str | Path) -> tuple[Path, bool]:
    """Where ``-o path`` writes, and whether whole (through a temporary file renamed into place):
    a symbolic link's target, so that the link stays a link; a device or a pipe (``-o
    /dev/stdout``) not whole, as no file can be renamed onto it."""
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # a new file (or a name the system refuses, said on writing)
        special = False
    return (Path(path), False) if special else (Path(os.path.realpath(path)), True)


def write_through(path: str | Path, chunks: Iterable[str | bytes]) -> int:
    """Write chunks straight to an existing device or pipe; a pipe nobody reads is an error,
    not a hang. The bytes written."""
    size = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with open(fd, "wb") as stream:
            for chunk in chunks:
                size += stream.write(chunk.encode() if isinstance(chunk, str) else chunk)
    except OSError as exc:
        reason = "no process reads it" if exc.errno == errno.ENXIO else exc.strerror or exc
        raise UsageError(f"cannot write {path}: {reason}") from None
    return size


def write_whole(path: str | Path, chunks: Iterable[str | bytes]) -> int:
    """Write text or bytes chunks to a file, whole or not at all: through a temporary file
    renamed into place once the last chunk is written (an error on the way, in writing or in
    making the chunks, leaves nothing), with the mode the shell would give it. The bytes
    written."""
    import tempfile

    target, whole = output_target(path)
    if not whole:
        return write_through(path, chunks)
    temp = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=target.parent or ".", delete=False,
                                         prefix=f".{target.name}.") as f:
            temp = f.name
            for chunk in chunks:
                f.write(chunk.encode() if isinstance(chunk, str) else chunk)
            os.fchmod(f.fileno(), new_file_mode(target))
        size = os.path.getsize(temp)
        os.replace(temp, target)
        return size
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if temp and os.path.exists(temp):
            os.unlink(temp)


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """While long work writes a file, SIGTERM ends it as SIGINT does: by an exception, so that
    the file being written is removed on the way out (write_whole); the exit code is the
    shell's for a signal, 128 + 15 = 143. Outside the main thread, signals are left alone."""
    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_writable(path: str | Path) -> None:
    """UsageError now unless ``-o path`` can be written (write_whole), to say so before long
    work rather than after it: not a directory, not a read-only file, in a folder that takes a
    new file (tried with an empty temporary one, removed at once). A device or a pipe (``-o
    /dev/stdout``) is left to the writing."""
    import tempfile

    file = str(path)
    try:
        info = os.stat(file)
    except FileNotFoundError:
        info = None
    except (OSError, ValueError) as exc:  # a name the system refuses (too long, a NUL)
        raise UsageError(f"cannot write {file}: {getattr(exc, 'strerror', None) or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise UsageError(Problem(f"cannot write {file}: it is a directory",
                                 hint=f"name a file in it, e.g. {os.path.join(file, 'out.yaml')}"))
    if info is not None and not stat.S_ISREG(info.st_mode):
        return
    if info is not None and not os.access(file, os.W_OK):
        raise UsageError(f"cannot write {file}: it is read-only")
    folder = os.path.dirname(os.path.realpath(file))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {file}: its folder does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cnncost-probe."):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {file}: cannot create a file in {folder}: "
                         f"{exc.strerror or exc}") from None


def bundled_folder(name: str) -> Path:
    """A folder that ships inside the installed package (``specs``, ``docs``): there when
    installed, else the source tree's top-level folder of that name."""
    package = Path(__file__).resolve().parents[1]
    installed = package / name
    return installed if installed.is_dir() else package.parent / name
