"""Builds one outputs-free notebook from percent-format part files, in order.

    python notebooks/percent.py OUT.ipynb PART.py [PART.py ...] [--first-cell FILE]

A part file holds cells separated by ``# %%`` lines; ``# %% [markdown]`` starts a markdown
cell whose lines are ``# `` + markdown text. Text before a part's first ``# %%`` line is a
code cell when it holds code (a module docstring or blank lines alone are dropped).
``--first-cell FILE`` puts FILE's text first as one code cell (the backend-setting cell).
"""

import argparse
import re
import sys

import nbformat

_MARKER = re.compile(r"^# %%(.*)$")


def _markdown_line(line, where):
    if line.rstrip() == "#":
        return ""
    if not line.startswith("# "):
        raise ValueError(f"{where}: a markdown cell's lines start with '# ', got {line!r}")
    return line[2:]


def _cell(kind, lines, where):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if not lines:
        return None
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell("\n".join(_markdown_line(line, where) for line in lines))
    return nbformat.v4.new_code_cell("\n".join(lines))


def _is_only_docstring(lines):
    text = "\n".join(lines).strip()
    return not text or (text[:3] in ('"""', "'''") and text.endswith(text[:3]) and text.count(text[:3]) == 2)


def parse_percent(text, where="<text>"):
    """Returns the notebook cells of one percent-format text."""
    cells, kind, lines, preamble = [], "code", [], True
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARKER.match(line)
        if not match:
            lines.append(line)
            continue
        if not (preamble and _is_only_docstring(lines)):
            cells.append(_cell(kind, lines, f"{where}:{number}"))
        preamble = False
        tag = match.group(1).strip()
        if tag not in ("", "[markdown]", "[md]"):
            raise ValueError(f"{where}:{number}: unknown cell marker {line!r}; use '# %%' or '# %% [markdown]'")
        kind, lines = ("markdown" if tag else "code"), []
    if not (preamble and _is_only_docstring(lines)):
        cells.append(_cell(kind, lines, f"{where}:end"))
    return [cell for cell in cells if cell is not None]


def build_notebook(parts, first_cell=None):
    """One nbformat v4 notebook (no outputs, python3 kernelspec) from part files, in order."""
    cells = []
    if first_cell is not None:
        with open(first_cell, encoding="utf-8") as f:
            cells.append(nbformat.v4.new_code_cell(f.read().strip()))
    for part in parts:
        with open(part, encoding="utf-8") as f:
            cells.extend(parse_percent(f.read(), part))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:  # nbformat's random ids would change the file on every build
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the .ipynb file to write")
    parser.add_argument("parts", nargs="+", help="percent-format .py files, in order")
    parser.add_argument("--first-cell", metavar="FILE", help="a file whose text becomes the first code cell")
    args = parser.parse_args(argv)
    nb = build_notebook(args.parts, args.first_cell)
    nbformat.validate(nb)
    with open(args.out, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    print(f"{args.out}: {len(nb.cells)} cells from {len(args.parts)} part(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
