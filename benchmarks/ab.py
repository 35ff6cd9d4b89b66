"""A/B speed check: keras_tfm from two source trees, interleaved in one run, against each other.

    python benchmarks/ab.py --base <git-rev>                       # base commit vs this working tree
    python benchmarks/ab.py --base <git-rev> --bench encoder --backends jax --rounds 5
    python benchmarks/ab.py --base HEAD --quick                    # smoke run: small sizes, one round

The base tree is ``git archive <rev>`` unpacked into a temporary folder (``--base-tree DIR`` takes a
folder instead); the new tree is this checkout, uncommitted changes included (``--new-tree DIR`` takes
another). The keras_tfm workers of ``bench_encoder.py``, ``bench_generate.py`` and ``bench_train.py``
(the files beside this one, so both trees are measured by the same code) run in subprocesses that
import ``keras_tfm`` from one tree or the other; each worker reports the ``keras_tfm.__file__`` it
imported and the run stops if that is not in the tree asked for. Every round runs the HF transformers
reference once per benchmark (its output is what keras_tfm is checked against, and its figure shows
the machine's drift), then for every backend the base and the new tree back to back, in an order that
alternates between backends and rounds (base first, then new first, ...), so that a slow spell of a
shared machine falls on both alike.

Reported per benchmark, backend and figure: the median over rounds for each tree, the speed ratio new /
base (> 1: the new tree is faster; for times it is base time / new time) as the median of the
per-round ratios, and the min - max of the per-round ratios. Results: stdout,
``benchmarks/results/ab.json`` and ``benchmarks/results/ab.md``.
"""

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, HERE)

import bench_encoder  # noqa: E402
import bench_generate  # noqa: E402
import bench_train  # noqa: E402

logger = logging.getLogger("ab")

BENCHES = ("encoder", "generate", "train")
BACKENDS = ("torch", "tensorflow", "jax")
# |speed ratio - 1| under this is "within noise" even when every round agrees on the sign.
NOISE_FLOOR = 0.03

# Sizes per mode: "default" is sized for about 25 minutes on 2 idle cores (an estimate), "quick" for about 10.
SIZES = {
    "default": dict(
        rounds=2,
        encoder=dict(batch=32, length=128, runs=5, warmup=2),
        generate=dict(batches={"gpt2-124M": [1, 8], "llama-100M": [1, 8]}, prompt=128, new=32, runs=1),
        train=dict(batch=16, length=128, steps=6, warmup=3),
    ),
    "quick": dict(
        rounds=1,
        encoder=dict(batch=8, length=128, runs=3, warmup=1),
        generate=dict(batches={"gpt2-124M": [1]}, prompt=32, new=32, runs=1),
        train=dict(batch=8, length=64, steps=3, warmup=2),
    ),
}


class ABError(RuntimeError):
    """A worker failed or imported keras_tfm from the wrong tree."""


IMPORTED_FROM = {}  # tree -> the keras_tfm/__init__.py its workers imported (for the report)


def check_tree(result_file, tree, what):
    """Raises unless ``result_file`` (a worker's ``keras_tfm.__file__``) lies in ``tree``."""
    expected = os.path.join(os.path.realpath(tree), "keras_tfm") + os.sep
    if not result_file or not os.path.realpath(result_file).startswith(expected):
        raise ABError(f"{what}: the worker imported keras_tfm from {result_file!r}, not from {tree!r}")
    IMPORTED_FROM[tree] = result_file


# ---- one adapter per benchmark: the HF reference once per round, and the keras_tfm worker of one tree ----
class EncoderBench:
    """``bench_encoder.py``: eager and compiled forward, median seconds per call (lower is faster)."""

    name = "encoder"

    def __init__(self, sizes, tmp, quiet_wait):
        self.args = SimpleNamespace(quiet_wait=quiet_wait, **sizes)
        self.reference = os.path.join(tmp, "encoder_reference.npz")
        self.title = (f"Encoder forward, all-MiniLM-L6-v2, batch {sizes['batch']} x {sizes['length']}, fp32: "
                      f"median of {sizes['runs']} calls (s)")

    def reference_round(self):
        result = bench_encoder.run_worker("hf", "torch", self.args, self.reference)
        if result is None:
            raise ABError("encoder: the HF reference worker failed (see above)")
        return [dict(backend="hf", case="eager (no_grad, sdpa)", value=result["rows"][0]["median_s"])]

    def keras_tfm_round(self, backend, tree):
        result = bench_encoder.run_worker("keras_tfm", backend, self.args, self.reference, tree=tree)
        if result is None:
            raise ABError(f"encoder/{backend}: the keras_tfm worker failed (see above)")
        check_tree(result.get("keras_tfm_file"), tree, f"encoder/{backend}")
        return [dict(backend=backend, case=r["mode"], value=r["median_s"], ok=r["ok"]) for r in result["rows"]]

    unit, higher_is_better = "s", False


class GenerateBench:
    """``bench_generate.py``: greedy tokens/s (higher is faster) and time to first token (s) per model and batch."""

    name = "generate"

    def __init__(self, sizes, tmp, quiet_wait):
        self.args = SimpleNamespace(threads=0, **sizes)
        self.sizes = sizes
        self.paths = {}
        self.tmp = tmp
        self.hf_tokens = {}
        self.title = (f"Generation, greedy, {sizes['prompt']}-token prompt + {sizes['new']} new tokens, fp32, "
                      f"all CPUs: tokens/s and time to first token (s)")

    def _models(self):
        if not self.paths:
            self.paths = bench_generate.make_models(os.path.join(self.tmp, "generate_models"), list(self.sizes["batches"]))
        return self.paths

    def _args(self, model):
        """The worker arguments for ``model``: its own batch sizes."""
        return SimpleNamespace(**{**vars(self.args), "batches": self.sizes["batches"][model]})

    def _figures(self, model, row):
        tokens_per_s = row["batch"] * self.sizes["new"] / row["seconds"]
        case = f"{model}, batch {row['batch']}"
        return [dict(case=f"{case}, tokens/s", value=tokens_per_s, higher_is_better=True),
                dict(case=f"{case}, first token (s)", value=row["ttft"], higher_is_better=False)]

    def reference_round(self):
        figures = []
        for model, path in self._models().items():
            rows = bench_generate.run_worker("hf", path, self._args(model))
            if any("error" in r for r in rows):
                raise ABError(f"generate/{model}: the HF reference worker failed: {rows[0].get('error')}")
            for row in rows:
                if row["lib"] == "hf-dynamic":
                    self.hf_tokens[(model, row["batch"])] = row["tokens"]
                    figures += [dict(backend="hf", **f) for f in self._figures(model, row)]
        return figures

    def keras_tfm_round(self, backend, tree):
        figures = []
        for model, path in self._models().items():
            for row in bench_generate.run_worker(backend, path, self._args(model), tree=tree):
                if "error" in row:
                    raise ABError(f"generate/{model}/{backend}: the keras_tfm worker failed: {row['error']}")
                check_tree(row.get("keras_tfm_file"), tree, f"generate/{model}/{backend}")
                ok = row["tokens"] == self.hf_tokens.get((model, row["batch"]))
                figures += [dict(backend=backend, ok=ok, **f) for f in self._figures(model, row)]
        return figures

    unit, higher_is_better = "", True


class TrainBench:
    """``bench_train.py``: optimizer steps/s through the Trainer and through Keras ``fit`` (higher is faster)."""

    name = "train"

    def __init__(self, sizes, tmp, quiet_wait):
        self.args = SimpleNamespace(**sizes)
        self.title = (f"Training, all-MiniLM-L6-v2 sequence classification, batch {sizes['batch']} x "
                      f"{sizes['length']}, fp32: steps/s over {sizes['steps']} steps after {sizes['warmup']}")

    def reference_round(self):
        result = bench_train.run_worker("hf", self.args)
        if "error" in result:
            raise ABError(f"train: the HF reference worker failed:\n{result['error']}")
        return [dict(backend="hf", case="Trainer", value=result["Trainer"])]

    def keras_tfm_round(self, backend, tree):
        result = bench_train.run_worker(backend, self.args, tree=tree)
        if "error" in result:
            raise ABError(f"train/{backend}: the keras_tfm worker failed:\n{result['error']}")
        check_tree(result.get("keras_tfm_file"), tree, f"train/{backend}")
        return [dict(backend=backend, case=kind, value=result[kind]) for kind in ("Trainer", "fit")]

    unit, higher_is_better = "steps/s", True


ADAPTERS = {"encoder": EncoderBench, "generate": GenerateBench, "train": TrainBench}


# ---- trees ----------------------------------------------------------------------------------------
def git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def export_rev(rev, folder):
    """Unpacks the files of commit ``rev`` into ``folder`` (``git archive``: no worktree or branch is created)."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    os.makedirs(folder)
    archive = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", folder], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise ABError(f"git archive {sha} failed")
    return sha


def describe_tree(tree):
    """The commit of a checkout and whether it has uncommitted changes under keras_tfm/ (None outside git)."""
    try:
        return dict(commit=git("rev-parse", "HEAD", cwd=tree),
                    dirty=bool(git("status", "--porcelain", "--", "keras_tfm", cwd=tree)))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


# ---- the run --------------------------------------------------------------------------------------
def run_rounds(benches, backends, rounds, trees):
    """Runs every round; returns the list of measurements (one dict per figure)."""
    measurements = []
    for round_index in range(rounds):
        for bench in benches:
            start = time.perf_counter()
            for figure in bench.reference_round():
                measurements.append(dict(bench=bench.name, round=round_index, tree="hf", **figure))
            for backend_index, backend in enumerate(backends):
                order = ("base", "new") if (round_index + backend_index) % 2 == 0 else ("new", "base")
                for tree in order:
                    for figure in bench.keras_tfm_round(backend, trees[tree]):
                        measurements.append(dict(bench=bench.name, round=round_index, tree=tree, **figure))
            logger.info("round %d/%d, %s: %.0f s (load %.2f)", round_index + 1, rounds, bench.name,
                        time.perf_counter() - start, os.getloadavg()[0])
    return measurements


def speed_ratio(new, base, higher_is_better):
    """New speed / base speed: > 1 means the new tree is faster."""
    return new / base if higher_is_better else base / new


def summarize(measurements, benches):
    """Pairs base and new figures round by round; returns one summary row per (bench, backend, case)."""
    default_direction = {b.name: b.higher_is_better for b in benches}
    groups = {}
    for m in measurements:
        key = (m["bench"], m["backend"], m["case"])
        group = groups.setdefault(key, dict(base={}, new={}, hf={}, ok=True,
                                            higher_is_better=m.get("higher_is_better",
                                                                   default_direction[m["bench"]])))
        group[m["tree"]][m["round"]] = m["value"]
        group["ok"] = group["ok"] and m.get("ok", True)
    summary = []
    for (bench, backend, case), g in groups.items():
        row = dict(bench=bench, backend=backend, case=case, higher_is_better=g["higher_is_better"])
        if g["hf"]:
            values = list(g["hf"].values())
            summary.append(dict(row, reference=True, median=statistics.median(values), min=min(values),
                                max=max(values), rounds=len(values)))
            continue
        paired = sorted(set(g["base"]) & set(g["new"]))
        ratios = [speed_ratio(g["new"][r], g["base"][r], g["higher_is_better"]) for r in paired]
        base_values, new_values = list(g["base"].values()), list(g["new"].values())
        ratio = statistics.median(ratios)
        if len(ratios) < 2:
            verdict = "one round: no spread to judge by"
        elif min(ratios) <= 1.0 <= max(ratios) or abs(ratio - 1.0) <= NOISE_FLOOR:
            verdict = "within noise"
        else:
            verdict = ("new faster" if ratio > 1 else "new slower") + f" ({abs(ratio - 1) * 100:.0f}%)"
        summary.append(dict(row, reference=False, base=statistics.median(base_values),
                            base_spread=[min(base_values), max(base_values)], new=statistics.median(new_values),
                            new_spread=[min(new_values), max(new_values)], speed_ratio=ratio,
                            ratio_spread=[min(ratios), max(ratios)], rounds=len(paired), outputs_ok=g["ok"],
                            verdict=verdict))
    return summary


def _figure(value, spread=None):
    text = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if spread and spread[0] != spread[1]:
        low, high = (f"{v:.3f}" if v < 10 else f"{v:.1f}" for v in spread)
        text += f" ({low}-{high})"
    return text


def render(report, benches):
    config = report["config"]
    base, new = report["trees"]["base"], report["trees"]["new"]
    new_state = new["git"] and (new["git"]["commit"][:10] + (" + uncommitted changes" if new["git"]["dirty"] else ""))
    lines = [
        f"# A/B speed check: keras_tfm {new_state or new['path']} (new) vs {base['label']} (base)",
        "",
        f"Mode {config['mode']}: {config['rounds']} round(s); backends {', '.join(config['backends'])}. "
        f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['platform']}; load average at start "
        f"{', '.join('%.2f' % x for x in report['machine']['load_start'])}, at end "
        f"{', '.join('%.2f' % x for x in report['machine']['load_end'])}; {report['wall_s'] / 60:.1f} min in all.",
        "",
        "Both trees run the same measuring code (the benchmark files of the new tree); each keras_tfm worker is a "
        "subprocess importing keras_tfm from its tree (checked"
        + (f": base {base['imported']}, new {new['imported']}" if base.get("imported") else "") + "). Figures: median over rounds, min-max over rounds "
        "in brackets. Speed new/base > 1: the new tree is faster (for times, base time / new time); it is the "
        f"median of the per-round ratios, the min-max of those beside it. Verdict: within noise when the per-round "
        f"ratios straddle 1.0 or the median is within {NOISE_FLOOR:.0%} of it (needs two rounds or more). HF transformers rows: the reference, "
        "run once per round; their spread is the machine's drift.",
    ]
    for bench in benches:
        rows = [r for r in report["summary"] if r["bench"] == bench.name]
        lines += ["", f"## {bench.title}", "",
                  "| backend | figure | base | new | speed new/base | per-round ratios | verdict | outputs match HF |",
                  "| --- | --- | ---: | ---: | ---: | --- | --- | --- |"]
        for r in rows:
            if r["reference"]:
                lines.append(f"| HF transformers | {r['case']} | {_figure(r['median'], [r['min'], r['max']])} "
                             "| | | | reference | |")
                continue
            lines.append(f"| {r['backend']} | {r['case']} | {_figure(r['base'], r['base_spread'])} | "
                         f"{_figure(r['new'], r['new_spread'])} | {r['speed_ratio']:.3f} | "
                         f"{r['ratio_spread'][0]:.3f}-{r['ratio_spread'][1]:.3f} | {r['verdict']} | "
                         f"{'yes' if r['outputs_ok'] else 'NO'} |")
    lines += ["", "Reproduce: `" + report["command"] + "`"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", metavar="REV", help="git revision of the base tree (exported with git archive)")
    which.add_argument("--base-tree", metavar="DIR", help="a folder holding the base tree's keras_tfm/")
    parser.add_argument("--new-tree", metavar="DIR", default=ROOT,
                        help="a folder holding the new tree's keras_tfm/ (default: this checkout, as it is on disk)")
    parser.add_argument("--bench", default=",".join(BENCHES), help="comma-separated subset of " + ", ".join(BENCHES))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--quick", action="store_true", help="small sizes and one round (a smoke run, under 10 minutes)")
    parser.add_argument("--rounds", type=int, help="rounds (default: 2, or 1 with --quick)")
    parser.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                        help="encoder: before each timed call wait up to SECONDS for idle CPUs (see bench_encoder.py)")
    parser.add_argument("--results", default=RESULTS, help="folder for ab.json / ab.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    mode = "quick" if args.quick else "default"
    sizes = SIZES[mode]
    rounds = args.rounds or sizes["rounds"]
    names = [b for b in args.bench.split(",") if b]
    backends = [b for b in args.backends.split(",") if b]
    for name in names:
        if name not in ADAPTERS:
            parser.error(f"unknown benchmark {name!r} in --bench; choose from {', '.join(BENCHES)}")
    for backend in backends:
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r} in --backends; choose from {', '.join(BACKENDS)}")

    start = time.perf_counter()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="keras_tfm_ab_") as tmp:
        if args.base:
            base_tree = os.path.join(tmp, "base")
            sha = export_rev(args.base, base_tree)
            base_info = dict(path=None, rev=args.base, commit=sha, label=f"{args.base} ({sha[:10]})")
        else:
            base_tree = os.path.abspath(args.base_tree)
            base_info = dict(path=base_tree, git=describe_tree(base_tree), label=base_tree)
        new_tree = os.path.abspath(args.new_tree)
        new_info = dict(path=new_tree, git=describe_tree(new_tree))  # before the run: commits during it don't count
        for label, tree in (("base", base_tree), ("new", new_tree)):
            if not os.path.isfile(os.path.join(tree, "keras_tfm", "__init__.py")):
                parser.error(f"the {label} tree {tree!r} has no keras_tfm/__init__.py")
        benches = [ADAPTERS[name](sizes[name], tmp, args.quiet_wait) for name in names]
        try:
            measurements = run_rounds(benches, backends, rounds, dict(base=base_tree, new=new_tree))
        except ABError as error:
            logger.error("%s", error)
            return 1

    report = dict(
        command="python benchmarks/ab.py " + " ".join(sys.argv[1:]),
        config=dict(mode=mode, rounds=rounds, benches=names, backends=backends, sizes={n: sizes[n] for n in names},
                    quiet_wait_s=args.quiet_wait, noise_floor=NOISE_FLOOR),
        trees=dict(base=dict(base_info, imported=IMPORTED_FROM.get(base_tree)),
                   new=dict(new_info, imported=IMPORTED_FROM.get(new_tree))),
        machine=dict(cpus=os.cpu_count(), platform=platform.platform(), python=platform.python_version(),
                     load_start=load_start, load_end=os.getloadavg()),
        wall_s=time.perf_counter() - start,
        measurements=measurements,
    )
    report["summary"] = summarize(measurements, benches)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "ab.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = render(report, benches)
    with open(os.path.join(args.results, "ab.md"), "w") as f:
        f.write(text)
    print(text)
    mismatched = [r for r in report["summary"] if not r["reference"] and not r["outputs_ok"]]
    if mismatched:
        logger.error("outputs differ from HF transformers in: %s",
                     ", ".join(f"{r['bench']}/{r['backend']}/{r['case']}" for r in mismatched))
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
