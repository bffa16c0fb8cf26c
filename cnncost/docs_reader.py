"""``cnncost docs``: the documentation that ships inside the package, for a pip user who has no
docs/ folder: a document by name, or the rows and paragraphs that define a metric."""

from __future__ import annotations

import re
from pathlib import Path

from cnncost.errors import Problem, UsageError, suggest


def docs_root() -> Path:
    """The bundled documents: inside the installed package, or the source tree's docs/."""
    here = Path(__file__).resolve().parent
    installed = here / "docs"
    return installed if installed.is_dir() else here.parent / "docs"


def documents() -> dict[str, Path]:
    root = docs_root()
    return {p.stem: p for p in sorted(root.glob("*.md"))} if root.is_dir() else {}


def metric_rows() -> dict[str, list[str]]:
    """Metric name -> the lines that define it: table rows whose first cell is `name`, with
    the heading of their section."""
    found: dict[str, list[str]] = {}
    for name, path in documents().items():
        heading = name
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                heading = line.lstrip("# ").strip()
                continue
            match = re.match(r"^\| `([a-z_0-9]+)` \|", line)
            if match:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                found.setdefault(match.group(1), []).append(
                    f"{match.group(1)} ({name}: {heading}): " + " | ".join(cells[1:]))
    return found


def docs_text(topic: str | None) -> str:
    docs = documents()
    if topic is None:
        lines = ["Documents (cnncost docs NAME):"]
        lines += [f"  {name}" for name in docs]
        lines += ["", "Metrics (cnncost docs METRIC):", "  " + ", ".join(sorted(metric_rows()))]
        return "\n".join(lines) + "\n"
    from cnncost.metrics import BY_NAME

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
