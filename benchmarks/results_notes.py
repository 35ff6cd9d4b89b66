"""Writes a benchmark's results Markdown file, keeping the hand-written notes of the file it replaces.

A results file is the generated figures, then optionally the line ``NOTES_MARKER`` and the notes
below it (how the figures were reached, earlier runs, what changed them). Scripts rewrite the
figures; the notes stay.
"""

import os

NOTES_MARKER = "<!-- Hand-written notes below: the benchmark script keeps them when it rewrites the figures above. -->"


def write_results_md(path, figures):
    """Writes ``figures`` (Markdown text) to ``path``, followed by the notes of the existing ``path``, if any."""
    notes = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    text = figures.rstrip("\n") + "\n"
    if notes:
        text += "\n" + notes
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
