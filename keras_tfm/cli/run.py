"""``keras-tfm run TASK INPUT...``: a pipeline from the shell, one result per input."""

import difflib
import json
import os
import subprocess
import sys

from keras_tfm.cli.common import UsageError, dumps

BACKENDS = ("torch", "tensorflow", "jax")


def add_parser(sub):
    p = sub.add_parser(
        "run", help="run a pipeline on texts, files or stdin lines",
        description="Runs pipeline(TASK, model=M) on each INPUT and prints one result per input. An INPUT is "
        "passed to the pipeline as written: text for text tasks, a file path (or URL) for image and audio "
        "tasks; '-' reads one input per line from stdin.",
        epilog="examples:\n"
        "  keras-tfm run sentiment-analysis \"We love it.\" \"We hate it.\" --model ./my_model\n"
        "  keras-tfm run image-classification cat.jpg --model ./vit --arg top_k=2 --json\n"
        "  cat sentences.txt | keras-tfm run text-classification - --model ./my_model --batch-size 32",
        formatter_class=argparse_raw())
    p.add_argument("task", help="a pipeline task or alias (sentiment-analysis, ner, image-classification, ...)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a text, a file path, or '-' for lines on stdin")
    p.add_argument("--model", help="a model folder or hub id (default: the task's default hub model, which must be "
                   "downloaded or cached)")
    p.add_argument("--revision", help="hub revision of --model")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend to run on; it wins over KERAS_BACKEND (default: KERAS_BACKEND, else Keras' "
                   "configured backend)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="inputs per model call")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument of the pipeline call, e.g. top_k=2 or aggregation_strategy=simple "
                   "(VALUE is read as JSON when it parses, else as a string); repeatable")
    p.add_argument("--json", action="store_true", help="print JSON lines: {\"input\": ..., \"output\": ...} per input")
    return p


def argparse_raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def main(args, argv):
    kwargs = parse_kwargs(args.arg)
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}.")
    task = check_task(args.task)
    if args.backend and _loaded_backend() not in (None, args.backend):
        # Keras fixes its backend when it is first imported (importing keras_tfm does): run in a fresh process.
        return _rerun(argv, args.backend, sys.stdin.read() if "-" in args.inputs else None)
    inputs = read_inputs(args.inputs)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from keras_tfm.pipelines import pipeline

    pipe = pipeline(task, model=args.model, revision=args.revision)
    outputs = pipe(inputs, batch_size=args.batch_size, **kwargs) if args.batch_size else pipe(inputs, **kwargs)
    for item, output in zip(inputs, outputs):
        print(dumps({"input": item, "output": output}) if args.json else f"{item}\t{summary(output)}")
    return 0


def check_task(task):
    """``task`` if keras_tfm runs it; else a UsageError naming the closest task names."""
    from keras_tfm.pipelines import SUPPORTED_TASKS, TASK_ALIASES, get_implemented_tasks, get_supported_tasks

    name = TASK_ALIASES.get(task, task)
    known = name in SUPPORTED_TASKS or (name.startswith("translation_") and len(name.split("_")) == 4)
    if not known:
        close = difflib.get_close_matches(task, get_supported_tasks(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UsageError(f"unknown task {task!r}.{hint} Tasks: {', '.join(get_implemented_tasks())}, "
                         "translation_XX_to_YY.")
    if name in SUPPORTED_TASKS and SUPPORTED_TASKS[name]["impl"] is None:
        raise UsageError(f"the {task!r} pipeline is not implemented in keras_tfm yet. Tasks: "
                         f"{', '.join(get_implemented_tasks())}.")
    return task


def parse_kwargs(pairs):
    """``["top_k=2", "aggregation_strategy=simple"]`` -> ``{"top_k": 2, "aggregation_strategy": "simple"}``."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--arg takes KEY=VALUE with a Python name as KEY, got {pair!r}.")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def read_inputs(items):
    """The inputs, each '-' replaced by the non-empty lines of stdin."""
    inputs = []
    for item in items:
        if item == "-":
            inputs += [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
        else:
            inputs.append(item)
    if not inputs:
        raise UsageError("no input: stdin ('-') was empty.")
    return inputs


def summary(output):
    """One line for a human: the text of a generation / ASR result, 'label (score)' lists, else compact JSON."""
    if isinstance(output, list) and len(output) == 1 and isinstance(output[0], (dict, list)):
        return summary(output[0])
    if isinstance(output, dict):
        output_list = [output]
        for key in ("generated_text", "summary_text", "translation_text", "text"):
            if isinstance(output.get(key), str) and len(output) == 1:
                return output[key]
    else:
        output_list = output
    if isinstance(output_list, list) and output_list and all(isinstance(o, dict) and "score" in o for o in output_list):
        name = next((k for k in ("label", "answer", "token_str", "entity_group", "entity") if k in output_list[0]), None)
        if name is not None and not any("mask" in o or "box" in o for o in output_list):
            return ", ".join(f"{o[name]} ({o['score']:.4f})" for o in output_list)
    return dumps(output)


def _loaded_backend():
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else None


def _rerun(argv, backend, stdin_text):
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, "-m", "keras_tfm.cli", *argv], input=stdin_text, capture_output=True,
                          text=True, env=env)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode
