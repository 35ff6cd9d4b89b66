"""``keras-tfm download MODEL_ID``: fills the huggingface_hub cache with a model repository, as ``hf download``."""

import sys

from keras_tfm.cli.common import CommandError, UsageError


def add_parser(sub):
    p = sub.add_parser(
        "download", help="download a hub model into the huggingface_hub cache",
        description="Downloads every file of MODEL_ID (or those --include selects) with "
        "huggingface_hub.snapshot_download into the hub cache, where from_pretrained and pipeline find it, "
        "offline too. Prints the snapshot folder. Needs the network unless the files are cached already.")
    p.add_argument("model_id", metavar="MODEL_ID", help="a hub model id, e.g. openai-community/gpt2")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--cache-dir", help="hub cache folder (default: HF_HUB_CACHE, ~/.cache/huggingface/hub)")
    p.add_argument("--local-dir", help="copy the files into this folder instead of the cache layout")
    p.add_argument("--include", nargs="+", metavar="PATTERN", help="only files matching these patterns, e.g. '*.json'")
    return p


def main(args, argv=None):
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError, \
        RevisionNotFoundError

    try:
        huggingface_hub.utils.validate_repo_id(args.model_id)
    except HFValidationError as e:
        raise UsageError(f"{args.model_id!r} is not a hub model id (like 'openai-community/gpt2'): {e}") from None
    try:
        path = huggingface_hub.snapshot_download(args.model_id, revision=args.revision, cache_dir=args.cache_dir,
                                                 local_dir=args.local_dir, allow_patterns=args.include)
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise CommandError(f"{args.model_id!r} (revision {args.revision or 'main'}) is not on the hub or is "
                           f"private: {str(e).splitlines()[0]}") from None
    except LocalEntryNotFoundError:
        offline = huggingface_hub.constants.HF_HUB_OFFLINE
        raise CommandError(
            f"cannot download {args.model_id!r}: " + ("HF_HUB_OFFLINE is set" if offline else "the hub is not "
                                                     "reachable from here")
            + f", and it is not in the cache ({args.cache_dir or huggingface_hub.constants.HF_HUB_CACHE}). "
            "Run this where the hub is reachable (unset HF_HUB_OFFLINE) and copy the cache here.") from None
    print(path)
    return 0
