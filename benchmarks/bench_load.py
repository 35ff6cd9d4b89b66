"""Benchmark: memory and time of ``from_pretrained``, keras_tfm on each backend beside HF transformers.

    python benchmarks/bench_load.py [--workdir /tmp/bench_load] [--repeats 3]

Saves a random BERT-base (HF transformers' default BertConfig, 110M parameters, a 418 MiB
model.safetensors), then loads it with ``AutoModel.from_pretrained`` in a fresh process per run:
HF transformers (PyTorch) and keras_tfm on torch, TensorFlow and JAX. Each run reports the peak
RSS above what the imports left (the peak is reset after the imports through
/proc/self/clear_refs: the memory ``from_pretrained`` itself needs, as a multiple of the file's size) and the wall time; the table gives the best of ``--repeats`` runs (least
disturbed by the machine's other work) and the load average around them. The file is in the
page cache (it was just written). Results go to benchmarks/results/load.{json,md}.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap

from results_notes import write_results_md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LOAD = textwrap.dedent("""
    import json, sys, time
    def mib(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024
    library, path = sys.argv[1], sys.argv[2]
    if library == "hf":
        import torch, transformers
        load = transformers.AutoModel.from_pretrained
    else:
        import keras, keras_tfm
        load = keras_tfm.AutoModel.from_pretrained
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak RSS (VmHWM) starts again here: the imports' own peak is not counted
    imports = mib("VmRSS")
    start = time.perf_counter()
    model = load(path)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "imports_mb": imports, "peak_mb": mib("VmHWM")}))
""")

RUNS = [("HF transformers (PyTorch)", "hf", "torch"), ("keras_tfm, torch", "ours", "torch"),
        ("keras_tfm, TensorFlow", "ours", "tensorflow"), ("keras_tfm, JAX", "ours", "jax")]


def load_average():
    return os.getloadavg()[0]


def run(library, backend, path):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", LOAD, library, path], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{library} on {backend} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/bench_load")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    path = os.path.join(args.workdir, "bert-base")
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import torch, transformers
        torch.manual_seed(0)
        transformers.BertModel(transformers.BertConfig()).save_pretrained({path!r})
    """)], check=True, capture_output=True, env={**os.environ, "KERAS_BACKEND": "torch"})
    file_mb = os.path.getsize(os.path.join(path, "model.safetensors")) / 2**20
    results = {"model": "BERT-base (random, BertConfig())", "file_mb": file_mb, "cpus": os.cpu_count(), "rows": []}
    for label, library, backend in RUNS:
        before = load_average()
        runs = [run(library, backend, path) for _ in range(args.repeats)]
        results["rows"].append({"label": label, "library": library, "backend": backend, "runs": runs,
                                "load_before": before, "load_after": load_average()})
        print(label, min(r["peak_mb"] - r["imports_mb"] for r in runs), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "load.json"), "w") as f:
        json.dump(results, f, indent=2)
    write_results_md(os.path.join(HERE, "results", "load.md"), report_md(results))


def report_md(results):
    file_mb = results["file_mb"]
    hf = next(r for r in results["rows"] if r["library"] == "hf")
    hf_seconds = min(r["seconds"] for r in hf["runs"])
    lines = [
        "# from_pretrained: memory and time",
        "",
        f"{results['model']}: model.safetensors {file_mb:.0f} MiB, in the page cache. Each load in a fresh process; "
        f"best of {len(hf['runs'])} runs; {results['cpus']} CPUs. Peak RSS above the imports = the memory "
        "`from_pretrained` needs beyond the libraries.",
        "",
        "| library | peak RSS above imports MiB | / file size | seconds | x HF time | load average before / after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["rows"]:
        above = min(r["peak_mb"] - r["imports_mb"] for r in row["runs"])
        seconds = min(r["seconds"] for r in row["runs"])
        lines.append(f"| {row['label']} | {above:.0f} | {above / file_mb:.2f} | {seconds:.2f} | "
                     f"{seconds / hf_seconds:.2f} | {row['load_before']:.1f} / {row['load_after']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
