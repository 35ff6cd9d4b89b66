"""Executes a notebook top to bottom with nbclient and prints what it shows: ``make demo`` and the notebook tests.

    python notebooks/run.py NOTEBOOK.ipynb [--pictures DIR] [--timeout S]

The kernel is the Python running this script (so the venv's packages, and a checkout's
``keras_tfm`` from the repo root, its working directory) and inherits the environment
(``KERAS_BACKEND``, ``HF_HUB_OFFLINE``...). Each cell's text output is printed as it
arrives; each PNG picture is saved as ``<notebook>-cell<NN>-<k>.png`` in ``--pictures``.
The .ipynb file is never written to. A cell that raises, or runs past what is left of
``--timeout`` (the whole notebook's budget), stops the run: its number, the head of its
source and the traceback are printed, and the exit status is 1.
"""

import argparse
import base64
import os
import re
import sys
import time

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_NAME = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(RuntimeError):
    """A cell raised or ran out of time: carries the cell's index, its source and the kernel's traceback."""

    def __init__(self, path, cell_index, source, traceback, what="raised"):
        self.path, self.cell_index, self.source, self.traceback = path, cell_index, source, traceback
        head = "\n".join(source.splitlines()[:8])
        super().__init__(f"{path}: cell {cell_index} {what}.\n--- cell {cell_index} source (head) ---\n{head}\n"
                         f"--- traceback ---\n{traceback}")


class _ThisPythonSpecs(KernelSpecManager):
    """Every kernel name resolves to an ipykernel in sys.executable, whatever kernelspecs are installed."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            # Its own log at ERROR: no startup notices among the notebook's output.
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                  "--IPKernelApp.log_level=ERROR"],
            display_name=f"Python 3 ({sys.executable})", language="python", resource_dir=ROOT,
        )


def _plain(text):
    return _ANSI.sub("", text)


class _EchoClient(NotebookClient):
    """Hands each output to ``on_output(cell_index, output)`` as the kernel sends it."""

    def __init__(self, nb, on_output, **kwargs):
        super().__init__(nb, **kwargs)
        self._on_output = on_output

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None:
            self._on_output(cell_index, out)
        return out


class _Printer:
    """Prints text outputs and saves PNG outputs of one notebook's run."""

    def __init__(self, name, pictures, write):
        self.name, self.pictures, self.write = name, pictures, write
        self.saved = []
        self._count = {}

    def __call__(self, cell_index, out):
        if out.output_type == "stream":
            self.write(_plain(out.text))
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "image/png" in data:
                self._save(cell_index, data["image/png"])
            elif "text/plain" in data:
                self.write(_plain(data["text/plain"]) + "\n")
        # "error" outputs are reported once, by run_notebook's NotebookError.

    def _save(self, cell_index, png):
        k = self._count[cell_index] = self._count.get(cell_index, 0) + 1
        if self.pictures is None:
            self.write(f"[picture: cell {cell_index}, not saved (no --pictures folder)]\n")
            return
        os.makedirs(self.pictures, exist_ok=True)
        path = os.path.join(self.pictures, f"{self.name}-cell{cell_index:02d}-{k}.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        self.saved.append(path)
        self.write(f"[picture saved: {path}]\n")


def run_notebook(path, pictures=None, timeout=900, write=None):
    """Executes the notebook at ``path``; returns the list of picture files saved.

    ``timeout`` bounds the whole run (seconds, the kernel's start excluded). Text outputs go
    to ``write`` (default: stdout) as they arrive. Raises ``NotebookError`` when a cell raises
    or the budget runs out. The file is only read.
    """
    if write is None:
        def write(text):
            sys.stdout.write(text)
            sys.stdout.flush()
    nb = nbformat.read(path, as_version=4)
    name = os.path.splitext(os.path.basename(path))[0]
    printer = _Printer(name, pictures, write)

    running = []

    def announce(cell, cell_index, **_):
        running.append((cell_index, cell, time.monotonic()))
        if cell.cell_type == "code" and cell.source.strip():
            write(f"\n--- {name} cell {cell_index} ---\n")

    def took(cell, cell_index, **_):  # where a slow run spends its time
        if cell.cell_type == "code" and cell.source.strip() and running:
            write(f"[{name} cell {cell_index}: {time.monotonic() - running[-1][2]:.1f} s]\n")

    failed = []

    def record_error(cell, cell_index, **_):
        failed.append((cell_index, cell))

    deadline = time.monotonic() + timeout

    def time_left(cell):  # nbclient asks before each cell: the cell gets what is left of the budget
        return max(1, int(deadline - time.monotonic()))

    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=_ThisPythonSpecs())
    client = _EchoClient(
        nb, printer, km=km, timeout_func=time_left, shutdown_kernel="immediate", kernel_name=KERNEL_NAME,
        allow_errors=False,
        # The repo root, so `import keras_tfm` finds a checkout's package.
        resources={"metadata": {"path": os.path.dirname(os.path.dirname(os.path.abspath(path)))}},
        on_cell_start=announce, on_cell_executed=took, on_cell_error=record_error,
    )
    try:
        # The kernel is ours (km is passed in), so nbclient leaves it running unless told: a kernel that
        # kept every model the notebook trained would stay alive as long as the caller (a pytest run).
        client.execute(cleanup_kc=True)
    except CellExecutionError as error:
        index, cell = failed[-1] if failed else (-1, None)
        raise NotebookError(path, index, cell.source if cell else "", _plain(str(error))) from None
    except CellTimeoutError as error:
        index, cell = running[-1][:2] if running else (-1, None)
        raise NotebookError(path, index, cell.source if cell else "",
                            f"the notebook ran past its {timeout:g} s budget ({error})", what="timed out") from None
    return printer.saved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help="the .ipynb file to execute (it is not modified)")
    parser.add_argument("--pictures", metavar="DIR", help="save each PNG output here as <notebook>-cell<NN>-<k>.png")
    parser.add_argument("--timeout", type=float, default=900, metavar="S",
                        help="seconds the whole notebook may run (900)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.notebook):
        parser.error(f"no notebook at {args.notebook!r}")
    try:
        saved = run_notebook(args.notebook, pictures=args.pictures, timeout=args.timeout)
    except NotebookError as error:
        sys.stdout.flush()
        print(f"\n{error}", file=sys.stderr)
        return 1
    where = f" in {args.pictures}" if args.pictures else ""
    print(f"\n{args.notebook}: every cell ran; {len(saved)} picture(s) saved{where}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
