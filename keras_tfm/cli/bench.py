"""``keras-tfm bench [NAME] [-- DRIVER ARGS]``: runs a benchmark driver of the repository's ``benchmarks/``.

The drivers live in the source repository, not in the installed package: they are found beside the
``keras_tfm`` package folder (a clone installed with ``pip install -e .``), or under ``--repo``.
"""

import ast
import os
import subprocess
import sys

from keras_tfm.cli.common import CommandError, UsageError

NOTES_MARK = "<!-- Hand-written notes below"


def add_parser(sub):
    p = sub.add_parser(
        "bench", help="run a benchmark against HF transformers and print its ratio table",
        description="Runs benchmarks/bench_NAME.py (ab: benchmarks/ab.py) of the keras_tfm repository with this "
        "Python; the driver prints its ratio table and writes benchmarks/results/NAME.{json,md}. Without NAME: "
        "the list of benchmarks. Arguments after '--' go to the driver, e.g. `keras-tfm bench audio -- --tiny`. "
        "Benchmarks take minutes (see benchmarks/README.md).")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="encoder, generate, train, convert, pipeline, seq2seq, vision, audio, multimodal or ab")
    p.add_argument("--show", action="store_true", help="print the latest stored results of NAME instead of running")
    p.add_argument("--repo", metavar="PATH", help="the keras_tfm repository (default: the one this keras_tfm is in)")
    return p


def find_benchmarks(repo=None):
    """The ``benchmarks`` folder of ``repo`` (default: the checkout around the imported keras_tfm)."""
    import keras_tfm

    root = repo or os.path.dirname(os.path.dirname(os.path.abspath(keras_tfm.__file__)))
    folder = os.path.join(root, "benchmarks")
    if not os.path.isfile(os.path.join(folder, "workers.py")):
        where = f"--repo {repo}" if repo else f"this keras_tfm ({os.path.dirname(keras_tfm.__file__)}) is not in a " \
            "clone of the repository"
        raise CommandError(
            f"no benchmarks/ folder with the benchmark drivers at {root} ({where}). The drivers live in the "
            "repository, not in the installed package: clone it and `pip install -e .`, or pass --repo <clone>.")
    return folder


def drivers(folder):
    """``{name: script path}`` of the drivers in ``folder``."""
    found = {}
    for entry in sorted(os.listdir(folder)):
        if entry.startswith("bench_") and entry.endswith(".py"):
            found[entry[len("bench_"):-3]] = os.path.join(folder, entry)
    if os.path.isfile(os.path.join(folder, "ab.py")):
        found["ab"] = os.path.join(folder, "ab.py")
    return found


def first_line(path):
    """The first line of a script's docstring."""
    with open(path, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def stored_results(folder, name):
    """The figures of ``results/NAME.md`` (without the hand-written notes), or None."""
    path = os.path.join(folder, "results", f"{name}.md")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().split(NOTES_MARK)[0].rstrip()


def main(args, argv=None):
    folder = find_benchmarks(args.repo)
    found = drivers(folder)
    if args.name is None:
        if args.show or args.passthrough:
            raise UsageError("name a benchmark (e.g. `keras-tfm bench encoder`).")
        print(f"Benchmarks in {folder} (keras-tfm bench NAME [-- ARGS]; keras-tfm bench NAME --show for the "
              "latest results):")
        for name, path in found.items():
            print(f"  {name:11s} {first_line(path)}")
        return 0
    if args.name not in found:
        raise UsageError(f"no benchmark {args.name!r} in {folder}; benchmarks: {', '.join(found)}.")
    if args.show:
        text = stored_results(folder, args.name)
        if text is None:
            raise CommandError(f"no stored results for {args.name!r} ({folder}/results/{args.name}.md); "
                                    f"run `keras-tfm bench {args.name}`.")
        print(text)
        return 0
    command = [sys.executable, found[args.name], *args.passthrough]
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    return subprocess.call(command, cwd=os.path.dirname(folder))
