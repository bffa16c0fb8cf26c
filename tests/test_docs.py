"""The documents that show tool output are the tool's current output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, cli


def output(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_architectures_table_is_current():
    expected = output("specs", "--figures", "--format", "markdown")
    actual = (ROOT / "docs" / "architectures.md").read_text()
    assert actual == expected, (
        "docs/architectures.md is stale: regenerate it with\n"
        "  cnncost specs --figures --format markdown > docs/architectures.md")


def test_readme_shows_the_real_output_of_the_main_command():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"```\n(mobilenet_v1: input.*?)```", readme, re.DOTALL)
    assert match, "README.md lost its sample output"
    assert match.group(1) == output("analyze", str(ROOT / "specs" / "mobilenet_v1.yaml")), (
        "README.md's sample output differs from `cnncost analyze specs/mobilenet_v1.yaml`")


def test_guideline_tables_are_current():
    from cnncost.docgen import BEGIN, END, guideline_tables, updated

    document = (ROOT / "docs" / "guidelines.md").read_text()
    assert BEGIN in document and END in document
    assert document == updated(document, guideline_tables()), (
        "docs/guidelines.md is stale: regenerate its tables with "
        "python -m cnncost.docgen docs/guidelines.md")


def test_ci_recipes_parse_and_the_hook_runs_cnncost_check():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "cnncost-check" and hooks[0]["entry"] == "cnncost check"
    assert hooks[0]["language"] == "python"
    recipes = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "ci.md").read_text(), re.DOTALL)
    workflow = next(yaml.safe_load(r) for r in recipes if "jobs:" in r)
    steps = workflow["jobs"]["cost-budgets"]["steps"]
    assert any("cnncost check" in step.get("run", "") for step in steps)
    config = next(yaml.safe_load(r) for r in recipes if "repos:" in r)
    assert config["repos"][0]["hooks"][0]["id"] == hooks[0]["id"]


def shell_examples() -> list[tuple[str, int, list[str]]]:
    """Every ```sh block of README.md and docs/*.md: (file, block number, its cnncost lines).
    Lines that are not cnncost commands are set-up (the README's two commands, which CI runs
    as .ci/run) or the benchmark (benchmarks/bench_scale.py, minutes long, run by hand)."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"```sh\n(.*?)```", path.read_text(), re.DOTALL)
        for number, block in enumerate(blocks):
            lines = [line for line in block.splitlines() if line.startswith("cnncost ")]
            if lines:
                found.append((path.relative_to(ROOT).as_posix(), number, lines))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("doc,number,lines", shell_examples(),
                         ids=[f"{d}#{n}" for d, n, _ in shell_examples()])
def test_the_docs_examples_run_as_written(doc, number, lines, tmp_path):
    """Each example line runs in a copy of the repository's specs and examples, in order within
    its block, through the shell as written; it exits 0, or 1 where the docs say it exits 1."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}", "COLUMNS": "100"}
    for line in lines:
        result = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        expected = 1 if "exits 1" in line else 0
        assert "Traceback" not in result.stderr, line
        assert result.returncode == expected, f"{doc}: {line}\n{result.stderr}"


def test_every_metric_is_defined_in_the_docs():
    """docs/metrics.md defines each metric of the metric table (cnncost/metrics.py) once, in a
    table row, which `cnncost docs METRIC` prints with the table's own definition."""
    from cnncost.report.docs_pages import metric_rows
    from cnncost.core.metrics import METRICS

    rows = metric_rows()
    for metric in METRICS:
        assert metric.name in rows, f"docs/metrics.md has no row for `{metric.name}`"
        shown = cli("docs", metric.name).stdout
        assert shown.startswith(f"{metric.name} ({metric.unit}): {metric.definition}")


def test_the_devices_json_fields_are_all_in_the_cli_docs():
    """docs/cli.md's row for `devices` names every field `cnncost devices --format json` writes
    for a profile, and every field of its threads."""
    import json

    row = next(line for line in (ROOT / "docs" / "cli.md").read_text().splitlines()
               if line.startswith("| `devices` |"))
    named = set(re.findall(r"`(\w+)`", row)) | \
        {n.strip() for group in re.findall(r"`\{([\w, ]+)\}`", row) for n in group.split(",")}
    profiles = json.loads(output("devices", "--format", "json"))["devices"]
    fields = {key for p in profiles for key in p}
    threads = {key for p in profiles if p["threads"] for key in p["threads"]}
    assert {"threads", "compute_dtype", "winograd"} <= fields and threads
    assert fields - named == set() and threads - named == set()
