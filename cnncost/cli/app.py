"""The typer app and what every command shares: run a body, write its output whole, say
errors on standard error, pick the exit code (0 done, 1 a check failed, 2 could not run, 3 a
bug), draw tables for this terminal."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from cnncost.core.errors import EXIT_ERROR, CnncostError, printable
from cnncost.core.files import write_whole
from cnncost.core.gcpause import paused_gc
from cnncost.core.version import __version__

EXIT_BUG = 3

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="What a CNN architecture costs, from a YAML spec: params, mult-adds "
         "(multiply-accumulates), mem_access (memory access cost), activation memory.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnncost {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")]
          = False) -> None:
    """Options that come before the command."""


def main() -> None:
    app()


def terminal() -> Any:
    """The width and colours of the table format: the terminal's width (or COLUMNS) and
    colour when standard output is a terminal; 80 columns and no colour when it is piped.
    NO_COLOR (no-color.org) turns colour off, FORCE_COLOR on."""
    from cnncost.report.render import Terminal

    width = max(shutil.get_terminal_size((80, 24)).columns, 40)
    env = os.environ
    try:
        tty = sys.stdout is not None and sys.stdout.isatty()
    except (ValueError, OSError):
        tty = False
    color = (tty and env.get("TERM") != "dumb") or bool(env.get("FORCE_COLOR"))
    if env.get("NO_COLOR"):
        color = False
    return Terminal(width=width, color=color)


def run(body: Callable[[], str]) -> None:
    """Compute the whole output, then write it; errors go to stderr with exit code 2."""
    try:
        with paused_gc():  # a short-lived process building one large structure
            text = body()
    except CnncostError as exc:
        diagnose(exc.format())
        raise typer.Exit(exc.exit_code)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so plainly; CNNCOST_DEBUG=1 shows the traceback
        if os.environ.get("CNNCOST_DEBUG"):
            raise
        diagnose(f"internal error (a bug in cnncost, please report it): "
                 f"{type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_BUG)
    write_output(text)


def diagnose(text: str) -> None:
    """A message on standard error (control characters escaped); nothing if it is closed."""
    try:
        typer.echo(printable(text), err=True)
    except (OSError, ValueError):
        pass


def write_output(text: str) -> None:
    """Write the output; a closed, broken or full standard output is one line on standard
    error and exit code 2, never a traceback."""
    stream = sys.stdout
    if stream is None:  # started with standard output closed (>&-)
        diagnose("error: cannot write the output: standard output is closed")
        raise typer.Exit(EXIT_ERROR)
    try:
        for start in range(0, len(text), 1 << 16):  # in pieces: a reader that goes away is
            stream.write(text[start:start + (1 << 16)])  # noticed at the next one
            stream.flush()
    except (OSError, ValueError) as exc:  # BrokenPipeError, ENOSPC (/dev/full), closed file
        reason = ("the reader closed the pipe" if isinstance(exc, BrokenPipeError) else
                  getattr(exc, "strerror", None) or str(exc))
        _discard_stdout()
        diagnose(f"error: cannot write the output: {reason}")
        raise typer.Exit(EXIT_ERROR)


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush of what could not be
    written fails silently instead of printing "Exception ignored ..."."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (tests)
        pass


def write_file(path: str, text: str | bytes) -> str:
    """Write a whole file, or nothing (write_whole). The message that says so goes to
    standard error; nothing to standard output."""
    write_whole(path, [text])
    diagnose(f"wrote {path}")
    return ""


def write_to(output: str | None, text: str) -> str:
    """The output for standard output, or ``-o output`` written (write_file) and nothing."""
    return write_file(output, text) if output else text


def stream(chunks: Iterable[str], output: str | None) -> int:
    """Write text chunks to standard output as they come, or to a file whole or not at all
    (write_whole); the bytes written."""
    if output is not None:
        return write_whole(output, chunks)
    size = 0
    for chunk in chunks:
        write_output(chunk)
        size += len(chunk)
    return size
