"""``keras-tfm convert SRC DST --to pt|safetensors|bin|tf|flax|keras|keras_archive [--dtype bfloat16]
[--max-shard-size 5GB] [--from FORMAT] [--check] [--overwrite] [--no-progress] [--json]``"""

import json
import sys


def add_parser(sub):
    c = sub.add_parser(
        "convert",
        help="convert a checkpoint folder between PyTorch, TensorFlow, Flax and Keras formats",
        description="Converts the checkpoint folder SRC into a new folder DST. Weights stream file to file "
        "(no model is built) unless the Keras format is involved; config and tokenizer files are copied. "
        "A failed conversion leaves no DST folder behind.",
    )
    c.add_argument("src", help="source folder (config.json + weights in any format)")
    c.add_argument("dst", help="output folder (must not exist or be empty, unless --overwrite)")
    c.add_argument("--to", required=True, choices=["pt", "safetensors", "bin", "tf", "flax", "keras", "keras_archive"],
                   help="target format: pt = model.safetensors (bin = pytorch_model.bin), tf = tf_model.h5, "
                   "flax = flax_model.msgpack, keras = model.weights.h5, keras_archive = model.keras")
    c.add_argument("--from", dest="from_format", choices=["safetensors", "bin", "pt", "tf", "flax", "keras"],
                   help="source format when SRC holds several (default: detected, safetensors first)")
    c.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="cast floating-point weights")
    c.add_argument("--max-shard-size", default="5GB", help="shard above this size (default 5GB; e.g. 500MB)")
    c.add_argument("--check", action="store_true",
                   help="load source and result in keras_tfm, run both on one random input, report the max difference")
    c.add_argument("--overwrite", action="store_true", help="replace a non-empty DST")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    return c


def main(args, argv=None):
    from keras_tfm.checkpoints.convert import convert
    from keras_tfm.checkpoints.errors import CheckpointError
    from keras_tfm.checkpoints.hub import ModelNotFoundError

    try:
        report = convert(args.src, args.dst, to=args.to, dtype=args.dtype, max_shard_size=args.max_shard_size,
                         check=args.check, progress=not args.no_progress, overwrite=args.overwrite,
                         from_format=args.from_format)
    except (CheckpointError, ModelNotFoundError, FileExistsError, ValueError) as e:
        if args.debug:
            raise
        print(f"keras-tfm convert: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['source_format']} -> {report['target_format']} ({report['path']}): "
              f"{len(report['files'])} files, {report['bytes'] / 1e6:.1f} MB in {report['target']}")
        if "max_abs_diff" in report:
            print(f"check: max abs difference on a random input = {report['max_abs_diff']:.3g}")
    return 0
