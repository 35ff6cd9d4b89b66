"""The notebooks: stored without outputs, and each runs top to bottom on the suite's KERAS_BACKEND.

The suite runs once per backend, so every notebook executes on torch, TensorFlow and JAX.
They run through notebooks/run.py (the runner `make demo` uses); a raising cell fails the
test with its cell number, source and traceback.
"""

import glob
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
IDS = [os.path.basename(path) for path in NOTEBOOKS]
# Notebooks whose cells start one subprocess per backend: the kernel's own backend changes nothing.
RUN_EVERY_BACKEND_THEMSELVES = {"backends.ipynb"}


def test_there_are_notebooks():
    assert IDS, "no notebooks/*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    assert "widgets" not in nb.get("metadata", {}), "widget state is stored in the notebook"
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {index} has stored outputs"
            assert cell.get("execution_count") is None, f"cell {index} has an execution_count"
        assert "widgets" not in cell.get("metadata", {}), f"cell {index} stores widget state"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executes(path, tmp_path, capsys, monkeypatch):
    pytest.importorskip("nbclient", reason="the notebooks extra (backends/test.txt) is not installed")
    if os.path.basename(path) in RUN_EVERY_BACKEND_THEMSELVES and os.environ.get("KERAS_BACKEND") != "torch":
        pytest.skip("runs torch, TensorFlow and JAX in its own subprocesses: executed once, in the torch run")
    # `make test` runs the three backends at once: torch's default threads would fight the other two for
    # the cores (tiny models then train ~20x slower), so the kernel's torch gets one thread.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    from notebooks.run import NotebookError, run_notebook

    with open(path, "rb") as f:
        stored = f.read()
    try:
        pictures = run_notebook(path, pictures=str(tmp_path), timeout=1500)  # a hang guard: the quick tour took 9 min on JAX with the other two suites running
    except NotebookError as error:
        pytest.fail(str(error), pytrace=False)
    with open(path, "rb") as f:
        assert f.read() == stored, "running the notebook changed its file"
    for picture in pictures:
        with open(picture, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", picture


def test_percent_round_trip(tmp_path):
    pytest.importorskip("nbformat", reason="the notebooks extra (backends/test.txt) is not installed")
    from notebooks.percent import build_notebook

    part = tmp_path / "10_part.py"
    part.write_text(
        '"""A docstring before the first cell is dropped."""\n'
        "# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n"
        "# %%\nimport os\n\nx = 1  # a comment\n\n"
        "# %% [markdown]\n# Second\n"
        "# %%\nprint(x)\n",
        encoding="utf-8",
    )
    first = tmp_path / "first.py"
    first.write_text('import os\nos.environ.setdefault("KERAS_BACKEND", "torch")\n', encoding="utf-8")
    nb = build_notebook([str(part), str(part)], first_cell=str(first))
    kinds = [(cell.cell_type, cell.source) for cell in nb.cells]
    once = [("markdown", "# Title\n\nSome *text*."), ("code", "import os\n\nx = 1  # a comment"),
            ("markdown", "Second"), ("code", "print(x)")]
    assert kinds == [("code", first.read_text().strip())] + once + once
    assert nb.metadata.kernelspec.name == "python3"
    assert all(cell.get("outputs", []) == [] for cell in nb.cells)


def test_percent_rejects_bad_cells():
    pytest.importorskip("nbformat", reason="the notebooks extra (backends/test.txt) is not installed")
    from notebooks.percent import parse_percent

    with pytest.raises(ValueError, match="unknown cell marker"):
        parse_percent("# %% [raw]\nx\n", "p.py")
    with pytest.raises(ValueError, match=r"p\.py:.*start with '# '"):
        parse_percent("# %% [markdown]\nnot a comment\n", "p.py")


@pytest.mark.parametrize("source", sorted(glob.glob(os.path.join(ROOT, "notebooks", "src", "*.py"))),
                         ids=os.path.basename)
def test_notebook_matches_its_source(source):
    """notebooks/src/X.py is the reviewable text of notebooks/X.ipynb: the two must not drift apart."""
    nbformat = pytest.importorskip("nbformat", reason="the notebooks extra (backends/test.txt) is not installed")
    from notebooks.percent import build_notebook

    stored = os.path.join(ROOT, "notebooks", os.path.basename(source)[:-3] + ".ipynb")
    assert os.path.isfile(stored), f"{source} has no notebook; run notebooks/percent.py {stored} {source}"
    built = nbformat.writes(build_notebook([source]))
    with open(stored, encoding="utf-8") as f:
        same = f.read().rstrip("\n") == built.rstrip("\n")
    assert same, f"{stored} differs from {source}; rebuild it with notebooks/percent.py"


def test_runner_prints_saves_pictures_and_reports_the_raising_cell(tmp_path, capsys):
    nbformat = pytest.importorskip("nbformat", reason="the notebooks extra (backends/test.txt) is not installed")
    pytest.importorskip("nbclient", reason="the notebooks extra (backends/test.txt) is not installed")
    import psutil

    from notebooks.run import NotebookError, main, run_notebook

    def kernels():
        return [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]

    kernels_before = kernels()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = folder / "probe.ipynb"
    cells = ["import os\nprint('backend', os.environ.get('KERAS_BACKEND'), os.getcwd())",
             "from PIL import Image\nImage.new('RGB', (4, 4), 'red')",
             "x = 41\nraise ValueError(f'boom {x + 1}')",
             "print('never runs')"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), str(path))
    stored = path.read_bytes()
    printed = []
    with pytest.raises(NotebookError) as caught:
        run_notebook(str(path), pictures=str(tmp_path / "pictures"), timeout=120, write=printed.append)
    text = "".join(printed)
    assert f"backend {os.environ.get('KERAS_BACKEND')} {tmp_path}" in text  # inherited env, cwd = the folder's parent
    assert (tmp_path / "pictures" / "probe-cell01-1.png").read_bytes()[:4] == b"\x89PNG"
    assert "never runs" not in text
    error = caught.value
    assert error.cell_index == 2 and "raise ValueError" in error.source
    assert "ValueError: boom 42" in str(error) and "cell 2 raised" in str(error)
    assert path.read_bytes() == stored
    capsys.readouterr()
    assert main([str(path)]) == 1
    assert "ValueError: boom 42" in capsys.readouterr().err
    assert kernels() == kernels_before, "a kernel outlived its run (it would keep the notebook's models in memory)"
