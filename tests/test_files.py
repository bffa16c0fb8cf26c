"""Files written with -o: whole or not at all, with the mode the shell would give them."""

from __future__ import annotations

import os
import stat

import pytest

from cnncost.core.errors import UsageError
from cnncost.core.files import write_whole
from tests.conftest import cli


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set a umask for the test, and restore the one before."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "out.txt"
    assert write_whole(target, ["a", b"b"]) == 2
    assert target.read_text() == "ab"
    assert mode(target) == expected  # 0o666 & ~mask


def test_an_existing_file_keeps_its_mode_as_with_the_shells_redirect(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_whole(target, ["new"])
    assert target.read_text() == "new"
    assert mode(target) == 0o640


def test_a_failure_while_making_the_chunks_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"

    def chunks():
        yield "first"
        raise OSError(28, "No space left on device")

    with pytest.raises(UsageError, match="No space left"):
        write_whole(target, chunks())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [
    ("export", "mobilenet_v1", "-o", "{out}.onnx"),
    ("import", "{onnx}", "-o", "{out}.yaml"),
    ("sweep", "mobilenet_v1", "--grid", "alpha=0.25:0.5:0.25", "--format", "csv", "-o",
     "{out}.csv"),
])
def test_commands_write_with_the_umask(tmp_path, umask, command):
    umask(0o027)
    onnx_file = tmp_path / "in.onnx"
    assert cli("export", "mobilenet_v1", "-o", str(onnx_file)).exit_code == 0
    args = [a.format(out=tmp_path / "out", onnx=onnx_file) for a in command]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    written = args[args.index("-o") + 1]
    assert mode(written) == 0o640  # 0o666 & ~0o027
