"""Turning analyses into rows of plain data (tables.py, document.py) and rows into text
(render.py). Counting never happens here; formatting never happens in the passes."""
