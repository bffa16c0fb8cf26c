"""``cnncost docs``: the documentation that ships inside the package, for a pip user who has no
docs/ folder: a document by name, or the rows and paragraphs that define a metric."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from cnncost.core.files import bundled_folder
from cnncost.core.errors import Problem, UsageError, suggest


def docs_root() -> Path:
    """The bundled documents: inside the installed package, or the source tree's docs/."""
    return bundled_folder("docs")


def documents() -> dict[str, Path]:
    root = docs_root()
    return {p.stem: p for p in sorted(root.glob("*.md"))} if root.is_dir() else {}


def _defining_rows() -> list[tuple[str, str, str, list[str]]]:
    """Table rows whose first cell is `name`, in every document: (name, document, the heading
    of their section, the other cells)."""
    found = []
    for document, path in documents().items():
        heading = document
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                heading = line.lstrip("# ").strip()
                continue
            match = re.match(r"^\| `([a-z_0-9]+)` \|", line)
            if match:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                found.append((match.group(1), document, heading, cells[1:]))
    return found


def metric_rows() -> dict[str, list[str]]:
    """Name -> the lines that define it (metrics, and the other names documents define in
    tables: commands, spec keys, JSON fields), each with the heading of its section."""
    found: dict[str, list[str]] = {}
    for name, document, heading, cells in _defining_rows():
        found.setdefault(name, []).append(f"{name} ({document}: {heading}): " + " | ".join(cells))
    return found


def _index() -> str:
    """``cnncost docs``: the documents; the metrics; then the other names the documents define,
    under the document that defines each first."""
    from cnncost.core.metrics import METRICS

    def listed(names: list[str]) -> str:
        return textwrap.fill(", ".join(sorted(names)), 78, initial_indent="  ",
                             subsequent_indent="  ", break_on_hyphens=False)

    metrics = [m.name for m in METRICS]
    lines = ["Documents (cnncost docs NAME):", *(f"  {name}" for name in documents()), "",
             "Metrics (cnncost docs METRIC):", listed(metrics)]
    others: dict[str, list[str]] = {}
    for name, document, _, _ in _defining_rows():
        if name not in metrics and not any(name in names for names in others.values()):
            others.setdefault(document, []).append(name)
    for document, names in others.items():
        lines += ["", f"Names defined in {document}.md (cnncost docs NAME):", listed(names)]
    return "\n".join(lines) + "\n"


def docs_text(topic: str | None) -> str:
    docs = documents()
    if topic is None:
        return _index()
    from cnncost.core.metrics import BY_NAME

    document = docs[topic].read_text(encoding="utf-8") if topic in docs else ""
    rows = metric_rows()
    if topic in BY_NAME or (topic in rows and not document):
        metric = BY_NAME.get(topic)
        head = [f"{topic} ({metric.unit}): {metric.definition}"] if metric else []
        # a metric with a document of its own name (latency): the definition, then the document
        definition = "\n".join(head + rows.get(topic, [])) + "\n"
        return definition + ("\n" + document if document else "")
    if document:
        return document
    raise UsageError(Problem(f"no document or metric named '{topic}'",
                             hint=suggest(topic, [*docs, *rows], listing=False)
                             or "cnncost docs lists them"))
