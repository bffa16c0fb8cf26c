"""The files around ONNX: external data that must stay in the model's folder, the spec `import`
writes (its blocks, safe YAML), `-o` that never replaces the input nor a link, and an export
refused before it allocates weights that no ONNX file can hold. Every model is made here with
onnx.helper."""

from __future__ import annotations

import builtins
import os
import re
import subprocess
import sys
import time

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncost  # noqa: E402
from conftest import ROOT, cli  # noqa: E402

WEIGHT = np.arange(16 * 8, dtype=np.float32).reshape(16, 8, 1, 1)  # 128 floats: 512 bytes


def conv_model(location: str = "w.bin", offset: str | None = None,
               length: str | None = None) -> onnx.ModelProto:
    """x (1, 8, 4, 4) -> Conv(16 out, 1x1) -> y, its weight in an external file."""
    weight = numpy_helper.from_array(WEIGHT, "conv.weight")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": offset, "length": length}
    for key, value in entries.items():
        if value is not None:
            weight.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save(folder, model, name: str = "m.onnx") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.fixture
def opened(monkeypatch):
    """Every path opened in this process while the test runs."""
    paths: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        paths.append(os.path.realpath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real_open(file, *args, **kwargs)

    def spy_os_open(file, *args, **kwargs):
        paths.append(os.path.realpath(file))
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    return paths


# -- external data ---------------------------------------------------------------------------

def test_external_data_in_the_models_folder_is_read(tmp_path):
    (tmp_path / "w.bin").write_bytes(WEIGHT.tobytes())
    a = cnncost.analyze(cnncost.load_model(save(tmp_path, conv_model())))
    assert cnncost.totals(a)["weights"] == 16 * 8  # 16 filters of 8 channels x 1 x 1


def secret(tmp_path):
    """A file outside the model's folder (tmp_path/model), of exactly the weight's size."""
    path = tmp_path / "secret.bin"
    path.write_bytes(b"\x01" * WEIGHT.nbytes)
    return path


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_external_data_outside_the_folder_is_refused_unread(tmp_path, opened, how):
    outside = secret(tmp_path)
    folder = tmp_path / "model"
    folder.mkdir()
    location = {"dotdot": "../secret.bin", "absolute": str(outside), "symlink": "w.bin"}[how]
    if how == "symlink":
        (folder / "w.bin").symlink_to(outside)
    path = save(folder, conv_model(location))
    result = cli("analyze", path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{path}: initializer conv.weight keeps its data in {location}, outside the " \
           f"model's folder" in result.stderr
    assert str(outside) not in opened


def test_external_data_of_a_constant_node_is_checked_too(tmp_path, opened):
    """Whatever node holds it: a Constant's value (a Reshape target) pointing out."""
    outside = secret(tmp_path)
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "")
    shape.ClearField("raw_data")
    shape.data_location = TensorProto.EXTERNAL
    shape.external_data.add(key="location", value="../secret.bin")
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["shape"], name="target", value=shape),
         helper.make_node("Reshape", ["x", "shape"], ["y"], name="flat")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = save(tmp_path / "model", helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    result = cli("analyze", path)
    assert result.exit_code == 2
    assert "the value of node target keeps its data in ../secret.bin, outside" in result.stderr
    assert str(outside) not in opened


@pytest.mark.parametrize("offset, length, expected", [
    ("600", None, "bytes 600 to 600 are past the end of the file (512 bytes)"),
    ("0", "4096", "bytes 0 to 4,096 are past the end of the file (512 bytes)"),
    ("256", "512", "bytes 256 to 768 are past the end of the file (512 bytes)"),
    ("-4", None, "offset -4 is not a whole number of bytes"),
    ("0", "abc", "length abc is not a whole number of bytes"),
    ("0", "256", "256 bytes, where its shape [16, 8, 1, 1] needs 512"),  # 128 floats x 4
])
def test_external_data_spans_past_the_file_are_refused(tmp_path, offset, length, expected):
    (tmp_path / "w.bin").write_bytes(WEIGHT.tobytes())
    path = save(tmp_path, conv_model("w.bin", offset, length))
    result = cli("analyze", path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{path}: initializer conv.weight keeps its data in w.bin: {expected}" \
        in result.stderr


# -- import keeps the blocks -----------------------------------------------------------------

# `exports` (conftest.py): the recorded exports, each decompressed once when first asked for


def renamed(name: str) -> str:
    """A dotted name as the imported spec spells it: a part that is no spec name gets l_."""
    return ".".join(p if not p or re.match(r"[A-Za-z_]", p) else f"l_{p}"
                    for p in name.split("."))


def findings(a) -> list[tuple]:
    return [(f.guideline, renamed(f.subject), f.figure) for v in a.guidelines
            for f in v.findings]


def roll_up(a, depth: int) -> list[dict]:
    return [{**row, "name": renamed(row["name"])} for row in cnncost.blocks(a, depth)]


@pytest.mark.parametrize("file, depths", [("mobilenet_v2.legacy11.static.onnx", (1, 2, 3, 4)),
                                          ("resnet18.dynamo.static.onnx", (1, 2, 3, 4, 5)),
                                          ("shufflenet_v2_x1_0.dynamo.static.onnx",
                                           (1, 2, 3, 4, 5))])
def test_import_keeps_the_blocks(exports, tmp_path, file, depths):
    target = tmp_path / "imported.yaml"
    assert cli("import", str(exports / file), "-o", str(target)).exit_code == 0
    model, imported = (cnncost.analyze(cnncost.load_model(str(p)))
                       for p in (exports / file, target))
    assert findings(model) and findings(imported) == findings(model)
    for depth in depths:
        assert roll_up(imported, depth) == roll_up(model, depth), depth
    # the command's verdict table alike, findings counted (its first line names the file)
    onnx_text, spec_text = (cli("guidelines", str(p)).stdout.split("\n\n")[0].split("\n", 1)[1]
                            for p in (exports / file, target))
    assert onnx_text == spec_text and "findings" in spec_text


def test_import_writes_a_block_per_module(exports):
    text = cli("import", str(exports / "resnet18.dynamo.static.onnx")).stdout
    # layer1.0 is read once from outside (its last relu): a block; its relu module is called
    # twice around the add, and the second call is relu_1, as the legacy exporter names it
    assert "  - {name: layer1, block: layer1}\n" in text
    assert "{name: relu_1, block: relu}" in text
    assert "{name: add, op: add, inputs: [conv2, input]}" in text


# -- import writes safe YAML -----------------------------------------------------------------

HOSTILE = ["true", "null", "1e3", "yes", "on", "0x10", "~", "a: b", "c # d", "Off",
           "ünïcødé", "it's \"q\""]


def test_hostile_names_load_back_with_equal_figures(tmp_path):
    nodes, previous = [], "x"
    for index, name in enumerate(HOSTILE):
        nodes.append(helper.make_node("Relu", [previous], [f"t{index}"], name=name))
        previous = f"t{index}"
    graph = helper.make_graph(
        nodes, "graph: {evil: 1}\nname: x",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)])
    stem = "mödel 'q' \"x\"\nlayers: []\u2028# \x1b[31m"
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                stem + ".onnx")
    target = tmp_path / "imported.yaml"
    result = cli("import", path, "-o", str(target))
    assert result.exit_code == 0, result.stderr
    text = target.read_text()
    header = text.split("layers:\n")[0].splitlines()
    assert [line.split(":")[0] for line in header[1:]] == ["name", "description", "input"]
    assert header[0].startswith("# imported from ") and "\\x0alayers: []\\u2028" in header[0]
    import yaml

    assert yaml.safe_load(text)["name"] == stem  # unicode, quotes, the line break: all back
    back = cnncost.load_model(str(target))
    assert back.graph.name == stem
    model = cnncost.load_model(path)
    assert cnncost.totals(cnncost.analyze(back)) == cnncost.totals(cnncost.analyze(model))
    assert [n.op.op_name for n in back.graph.nodes[1:]] == ["relu"] * len(HOSTILE)


@pytest.mark.parametrize("value", ["true", "null", "1e3", "yes", "on", "0x10", "~", "a: b",
                                   "c # d", "NO", "", " lead", "tab\there", "bell\x07",
                                   "line\nbreak", "nel\x85", "ls\u2028", "ünï", "'\"\\"])
def test_yaml_scalar_reads_back_as_the_same_text(value):
    import yaml

    from cnncost.frontends.yamlspec.writer import yaml_scalar

    text = yaml_scalar(value)
    assert "\n" not in text and yaml.safe_load(f"key: {text}\n") == {"key": value}


# -- -o never replaces the input, nor a link ------------------------------------------------

def test_export_refuses_to_overwrite_its_input(tmp_path, monkeypatch):
    spec = tmp_path / "t.yaml"
    spec.write_text((ROOT / "specs" / "mobilenet_v1.yaml").read_text())
    before = spec.read_bytes()
    (tmp_path / "link.yaml").symlink_to(spec)
    monkeypatch.chdir(tmp_path)
    for output in ("t.yaml", str(spec), "./t.yaml", "link.yaml"):
        result = cli("export", "t.yaml", "-o", output)
        assert result.exit_code == 2, output
        assert f"-o {output} is the input file t.yaml" in result.stderr
    assert spec.read_bytes() == before and (tmp_path / "link.yaml").is_symlink()


def test_import_refuses_to_overwrite_its_input(exports, tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes((exports / "mobilenet_v2.legacy11.static.onnx").read_bytes())
    before = source.read_bytes()
    for output in (str(source), str(tmp_path / "." / "m.onnx")):
        result = cli("import", str(source), "-o", output)
        assert result.exit_code == 2 and "is the input file" in result.stderr
    assert source.read_bytes() == before


def test_output_through_a_symlink_keeps_the_link(tmp_path):
    (tmp_path / "link.yaml").symlink_to("real.yaml")
    (tmp_path / "real.yaml").write_text("old")
    assert cli("export", "mobilenet_v1@alpha=0.25", "-o", str(tmp_path / "link.yaml"),
               "--weights", "zeros").exit_code == 0
    assert (tmp_path / "link.yaml").is_symlink()
    assert onnx.load(str(tmp_path / "real.yaml")).graph.node


@pytest.mark.slow
def test_output_to_dev_stdout_writes_through_the_pipe(exports):
    result = subprocess.run([sys.executable, "-m", "cnncost", "import",
                             str(exports / "mobilenet_v2.legacy11.static.onnx"), "-o",
                             "/dev/stdout"], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"# imported from ") and b"\nlayers:\n" in result.stdout


def test_output_to_a_pipe_nobody_reads_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = cli("export", "mobilenet_v1@alpha=0.25", "-o", str(fifo))
    assert result.exit_code == 2 and "no process reads it" in result.stderr


# -- export ----------------------------------------------------------------------------------

def test_an_export_too_big_for_onnx_is_refused_before_allocating(monkeypatch, tmp_path):
    from cnncost.frontends.onnx import onnx_export

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were made")

    monkeypatch.setattr(onnx_export, "_Writer", no_weights)
    model = cnncost.load_model("mobilenet_v1@alpha=30")
    totals = cnncost.totals(cnncost.analyze(model))
    size = 4 * (totals["params"] + totals["buffers"])  # float32: 4 bytes per parameter
    assert onnx_export.weight_bytes(model) == size > 2**31 - 1
    start = time.perf_counter()
    result = cli("export", "mobilenet_v1@alpha=30", "-o", str(tmp_path / "never.onnx"))
    assert time.perf_counter() - start < 10
    assert result.exit_code == 2 and not (tmp_path / "never.onnx").exists()
    assert f"mobilenet_v1@alpha=30.0: its float32 weights would be {size:,} bytes" \
        in result.stderr and "hint:" in result.stderr


def test_export_without_the_onnx_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = cli("export", "mobilenet_v1", "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 2 and not (tmp_path / "m.onnx").exists()
    assert "exporting ONNX models needs the onnx package" in result.stderr
    assert "pip install 'cnncost[onnx]'" in result.stderr


def test_measure_checks_an_onnx_file_before_onnxruntime_opens_it(tmp_path):
    """cnncost.estimate.measure("m.onnx") from Python goes through the reader's checks too: external
    data outside the model's folder is refused before onnxruntime could read it."""
    from cnncost.core.errors import CnncostError
    from cnncost.estimate.measure import measure

    import onnx

    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 64)
    folder = tmp_path / "model"
    folder.mkdir()
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "64")):
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [weight])
    path = folder / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(CnncostError, match="outside"):
        measure(str(path))


def test_import_writes_only_a_yaml_spec_never_a_model_or_its_data(exports, tmp_path):
    """-o m.onnx.data would overwrite the model's own external data: import names its output
    SPEC.yaml (or writes through a pipe or device, as above)."""
    source = exports / "mobilenet_v2.legacy11.static.onnx"
    for name in ("m.onnx.data", "other.onnx", "weights.bin"):
        result = cli("import", str(source), "-o", str(tmp_path / name))
        assert result.exit_code == 2 and "writes a YAML spec" in result.stderr, name
        assert not (tmp_path / name).exists()
