"""The HTML report of one analysis (``cnncost report``): one self-contained file that works
offline in any browser. Inline CSS, a few lines of vanilla JavaScript that sort the per-layer
table, the charts as inline SVG: no URL, no CDN, nothing fetched.

The tables are the command line's own (report/tables.py), so the report shows the same
figures as ``cnncost analyze --layers``. Every string from a spec, a model or the command
line is escaped here (layer names, the spec's name and description); matplotlib's SVG writer
escapes the text of the charts.
"""

from __future__ import annotations

import html
import re
from typing import Any

from cnncost.pipeline import Analysis
from cnncost.core.errors import printable
from cnncost.core.metrics import BY_NAME
from cnncost.report.render import cell
from cnncost.report.tables import (BYTES, COUNT, NUMBER, RATIO, SECONDS, SHAPE, SHARE, VERDICT,
                                   Column, Table, blocks_table, findings_table, guidelines_table,
                                   kinds_table, layers_table, summary_table)

NUMERIC = (COUNT, SHARE, BYTES, RATIO, NUMBER, SECONDS, SHAPE)  # sorted as numbers
NAMES = ("name", "subject")  # columns of dotted names (layers, blocks), set in monospace
FINDINGS = 10  # the costliest findings per guideline shown (cnncost guidelines lists all)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0 auto; padding: 1.5em 2em 3em; max-width: 1400px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1.2em; }
.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; vertical-align: top; }
th { text-align: left; font-weight: 600; background: #f6f6f6; }
th small { font-weight: normal; color: #666; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.name { font-family: ui-monospace, Menlo, Consolas, monospace; }
.wide { max-width: 100%; overflow-x: auto; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.95em;
       background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; }
tfoot td { font-weight: 600; border-top: 2px solid #ccc; }
.pass { color: #17701d; font-weight: 600; }
.warn { color: #9a5b00; font-weight: 600; }
.note { color: #555; font-size: 0.92em; margin: 0.3em 0; }
table.sortable thead th { cursor: pointer; position: sticky; top: 0; user-select: none; }
table.sortable thead th:hover { background: #ececec; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BC"; }
table.sortable tbody tr:hover { background: #fafae6; }
figure { margin: 1em 0 2em; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.92em; }
footer { margin-top: 3em; color: #666; font-size: 0.9em; }
"""

SORT_JS = """
(function () {
  "use strict";
  function key(row, column, numeric) {
    var cell = row.cells[column];
    if (!numeric) { return cell.textContent.trim(); }
    var value = parseFloat(cell.getAttribute("data-value"));
    return isNaN(value) ? -Infinity : value;
  }
  function sortBy(table, header) {
    var column = header.cellIndex;
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, column, numeric), y = key(b, column, numeric);
      var order = numeric ? (x < y ? -1 : (x > y ? 1 : 0))
                          : x.localeCompare(y, undefined, {numeric: true});
      return ascending ? order : -order;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(header.parentNode.cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
      header.tabIndex = 0;
      header.addEventListener("click", function () { sortBy(table, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, header);
        }
      });
    });
  });
})();
"""


def escape(value: Any) -> str:
    """Text as HTML shows it literally: markup characters and quotes escaped, control
    characters written as visible escapes."""
    return html.escape(printable(str(value)), quote=True)


def prose(text: str) -> str:
    """cnncost's own notes as HTML: escaped, with `code` in backticks set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def name_html(name: str) -> str:
    """A dotted name that may break after its dots, and nowhere else."""
    return escape(name).replace(".", ".<wbr>")


def report_html(a: Analysis, charts: bool = True) -> str:
    """The whole report; with ``charts``, the per-layer chart and, when the analysis has a
    device, the roofline (both need matplotlib: the ``plot`` extra)."""
    figures: list[tuple[str, str, str]] = []
    if charts:
        from cnncost.report.charts import layers_figure, roofline_figure

        figures.append(("chart-layers", "mult-adds and mem_access per layer, along the depth of "
                        "the network" + (", and the estimated latency" if a.latency else ""),
                        inline_svg(layers_figure(a, "svg"), "layers")))
        if a.latency is not None:
            figures.append(("chart-roofline", f"the kernels on the roofline of "
                            f"{a.latency.device.name}",
                            inline_svg(roofline_figure(a, "svg"), "roofline")))
    return page(a, figures)


def inline_svg(data: bytes, prefix: str) -> str:
    """An SVG file as an element of an HTML page: without its XML prolog and namespace
    declarations (HTML knows them, and the page names no URL), and with its ids prefixed so
    that two charts on one page never share one."""
    text = data.decode("utf-8")
    text = text[text.index("<svg"):]

    def tag(match: re.Match[str]) -> str:
        markup = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", match.group())
        return (markup.replace(' id="', f' id="{prefix}-').replace('url(#', f'url(#{prefix}-')
                .replace('href="#', f'href="#{prefix}-'))

    return re.sub(r"<[^>]+>", tag, text).replace("<svg ", '<svg role="img" ', 1).strip()


def page(a: Analysis, figures: list[tuple[str, str, str]]) -> str:
    """The report's HTML: ``figures`` are (id, caption, inline SVG)."""
    from cnncost.core.version import __version__

    model = a.model
    title = escape(model.title)
    lead = [escape(model.description)] if model.description else []
    shape = "x".join(map(str, a.graph.nodes[0].shape))
    lead.append(f"{escape(model.label)}: input {shape}, {len(a.graph.nodes) - 1} layers")
    sections = [("summary", "Summary", table_html(summary_table(a))),
                ("guidelines", "ShuffleNet V2 guidelines", table_html(guidelines_table(a)) +
                 "\n<h3>Findings</h3>\n" + table_html(findings_table(a, FINDINGS)))]
    if figures:
        sections.append(("charts", "Charts", "\n".join(
            f'<figure id="{name}">\n{svg}\n<figcaption>{prose(caption)}</figcaption>\n'
            f'</figure>' for name, caption, svg in figures)))
    sections += [("by-op", "By op type", table_html(kinds_table(a))),
                 ("by-block", "By block", table_html(blocks_table(a))),
                 ("layers", "Per layer",
                  '<p class="note">Click a column\'s header to sort by it, again to reverse; '
                  '# is the order of the network.</p>\n' +
                  table_html(layers_table(a), sortable=True))]
    definitions = "".join(f"<li><b>{name}</b>: {escape(BY_NAME[name].definition)}</li>"
                          for name in ("mult_adds", "mem_access",
                                       *(("latency",) if a.latency else ())))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="cnncost {escape(__version__)}">',
        f"<title>{title}: cnncost report</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header>\n<h1>{title}</h1>",
        *(f'<p class="lead">{line}</p>' for line in lead),
        "<nav>" + "".join(f'<a href="#{key}">{name}</a>' for key, name, _ in sections)
        + "</nav>\n</header>",
        *(f'<section id="{key}">\n<h2>{name}</h2>\n{body}\n</section>'
          for key, name, body in sections),
        f"<footer>\n<ul>{definitions}</ul>\n<p>Made by cnncost {escape(__version__)}; "
        "<code>cnncost docs metrics</code> defines every figure.</p>\n</footer>",
        f"<script>{SORT_JS}</script>",
        "</body>",
        "</html>",
        ""])


def table_html(table: Table, *, sortable: bool = False) -> str:
    """A table of report/tables.py as HTML: the columns people read, its totals as a footer,
    its notes below it. A sortable table gets a first column # (the row's position) and the
    raw value of every number (``data-value``), which the page's script sorts by."""
    columns = [c for c in table.columns if c.human]
    if sortable:
        columns.insert(0, Column("#", "#", NUMBER))
    head = "".join(_th(c, sortable) for c in columns)
    body = "\n".join(_row(columns, {**row, "#": number}, sortable)
                     for number, row in enumerate(table.rows, 1))
    foot = (f"<tfoot>{_row(columns, table.totals, False)}</tfoot>\n"
            if table.totals else "")
    notes = "".join(f'\n<p class="note">{prose(note)}</p>' for note in table.notes)
    kind = ' class="sortable"' if sortable else ""
    return (f'<div class="wide">\n<table{kind}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            f"{body}\n</tbody>\n{foot}</table>\n</div>{notes}")


def _th(column: Column, sortable: bool) -> str:
    attributes = _numeric(column)
    if sortable:
        attributes += f' data-type="{"number" if column.kind in NUMERIC else "text"}"'
        if column.key == "#":  # the rows come in the network's order
            attributes += ' aria-sort="ascending"'
    return f'<th scope="col"{attributes}>{_header(column.header)}</th>'


def _numeric(column: Column) -> str:
    return ' class="num"' if column.kind in NUMERIC and column.kind != SHAPE else ""


def _header(header: str) -> str:
    first, _, rest = header.partition("\n")
    return escape(first) + (f"<br><small>{escape(rest.replace(chr(10), ' '))}</small>"
                            if rest else "")


def _row(columns: list[Column], row: dict[str, Any], sortable: bool) -> str:
    cells = []
    for c in columns:
        value = row.get(c.key)
        shown = escape(cell(c, value))
        classes = ("num" if c.kind in NUMERIC and c.kind != SHAPE else
                   "name" if c.key in NAMES else
                   shown if c.kind == VERDICT and shown in ("pass", "warn") else "")
        if c.key in NAMES:
            shown = name_html(cell(c, value))
        attributes = f' class="{classes}"' if classes else ""
        if sortable and c.kind in NUMERIC:
            attributes += f' data-value="{escape(_sort_value(c, value))}"'
        cells.append(f"<td{attributes}>{shown}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _sort_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == SHAPE:
        size = 1
        for dim in value:
            size *= dim
        return str(size)
    return repr(value) if isinstance(value, (int, float)) else ""
