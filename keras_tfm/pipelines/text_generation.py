"""The ``text-generation`` pipeline: continue a prompt, or answer a chat, with ``model.generate``."""

import logging

import numpy as np

from keras_tfm import backend
from keras_tfm.pipelines.base import Pipeline

logger = logging.getLogger(__name__)

_PREPROCESS = ("prefix", "add_special_tokens", "truncation", "max_length", "continue_final_message")
_POSTPROCESS = ("return_full_text", "return_text", "return_tensors", "return_type", "clean_up_tokenization_spaces",
                "skip_special_tokens")


def _is_chat(item):
    return isinstance(item, (list, tuple)) and bool(item) and all(isinstance(m, dict) and "role" in m for m in item)


class Chat:
    """A list of ``{"role", "content"}`` messages (so that a batch of chats is told from one chat)."""

    def __init__(self, messages):
        self.messages = list(messages)


class TextGenerationPipeline(Pipeline):
    """Continues prompts with a causal LM (``pipeline("text-generation", model=...)``).

    Call parameters: ``max_new_tokens`` and every other ``generate`` argument,
    ``return_full_text`` (default True), ``num_return_sequences``, ``return_tensors``
    (token ids instead of text), ``prefix``, ``add_special_tokens``. A prompt may be a
    str or a chat (list of ``{"role", "content"}`` dicts, rendered with the tokenizer's
    chat template). Batches are left-padded.
    """

    output_keys = ("sequences",)
    pad_to_multiple_of = 0

    def _sanitize_parameters(self, **kwargs):
        pre = {k: kwargs.pop(k) for k in _PREPROCESS if k in kwargs}
        post = {k: kwargs.pop(k) for k in _POSTPROCESS if k in kwargs}
        if "return_text" in post:
            post.pop("return_text")
        if post.get("return_full_text") is not None and post.get("return_tensors"):
            raise ValueError("`return_full_text` is mutually exclusive with `return_tensors`.")
        kwargs.pop("handle_long_generation", None)
        generate = dict(kwargs)
        if "generation_config" in generate and generate["generation_config"] is None:
            generate.pop("generation_config")
        return pre, generate, post

    def __call__(self, text_inputs, **kwargs):
        if _is_chat(text_inputs):
            text_inputs = Chat(text_inputs)
        elif isinstance(text_inputs, (list, tuple)) and text_inputs and all(_is_chat(c) for c in text_inputs):
            text_inputs = [Chat(c) for c in text_inputs]
        return super().__call__(text_inputs, **kwargs)

    def preprocess(self, prompt, prefix="", add_special_tokens=None, truncation=None, max_length=None,
                   continue_final_message=None):
        tok_kwargs = {}
        if add_special_tokens is not None:
            tok_kwargs["add_special_tokens"] = add_special_tokens
        if truncation is not None:
            tok_kwargs.update(truncation=truncation, max_length=max_length)
        if isinstance(prompt, Chat):
            continue_final = (prompt.messages[-1]["role"] == "assistant") if continue_final_message is None \
                else continue_final_message
            text = self.tokenizer.apply_chat_template(prompt.messages, tokenize=False,
                                                      add_generation_prompt=not continue_final,
                                                      continue_final_message=continue_final)
            ids = self.tokenizer(text, add_special_tokens=False, **{k: v for k, v in tok_kwargs.items()
                                                                     if k != "add_special_tokens"})["input_ids"]
        else:
            if not isinstance(prompt, str):
                raise ValueError(f"The text-generation pipeline takes a str or a chat (list of {{'role', 'content'}} "
                                 f"dicts), or a list of them; got {type(prompt).__name__}: {prompt!r:.80}.")
            text = prefix + prompt
            ids = self.tokenizer(text, **tok_kwargs)["input_ids"]
        if not ids:
            raise ValueError("The text-generation pipeline got an empty prompt: there is nothing to continue. "
                             "Pass at least one character (or a bos token).")
        return {"input_ids": list(ids), "attention_mask": [1] * len(ids), "prompt": prompt, "prompt_text": text,
                "prefix_len": len(prefix)}

    def _collate(self, features):
        """Left padding: the new tokens follow the prompt directly in every row."""
        lengths = [len(f["input_ids"]) for f in features]
        width = max(lengths)
        pad_id = self.tokenizer.pad_token_id
        if len(features) > 1 and len(set(lengths)) > 1 and pad_id is None:
            raise ValueError(
                "Pipeline with tokenizer without pad_token cannot do batching. You can try to set it with "
                "`pipe.tokenizer.pad_token_id = model.config.eos_token_id`."
            )
        ids = np.full((len(features), width), pad_id or 0, dtype="int32")
        mask = np.zeros((len(features), width), dtype="int32")
        for i, f in enumerate(features):
            ids[i, width - lengths[i]:] = f["input_ids"]
            mask[i, width - lengths[i]:] = 1
        return {"input_ids": ids, "attention_mask": mask}, lengths

    def _forward(self, batch, **generate_kwargs):
        kwargs = dict(generate_kwargs)
        if "max_new_tokens" not in kwargs and "max_length" not in kwargs and "generation_config" not in kwargs:
            kwargs["max_new_tokens"] = 256  # transformers' pipeline default
        model_pad = getattr(self.model.generation_config, "pad_token_id", None)
        if model_pad is None and self.tokenizer.pad_token_id is not None:
            kwargs.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        if kwargs.get("stop_strings"):
            kwargs.setdefault("tokenizer", self.tokenizer)
        sequences = np.asarray(backend.to_numpy(self.model.generate(**batch, **kwargs)))
        n = sequences.shape[0] // batch["input_ids"].shape[0]
        width = batch["input_ids"].shape[1]
        return {"sequences": sequences.reshape(-1, n, sequences.shape[1]), "width": np.full(len(sequences) // n, width)}

    def _unbatch(self, outputs, i, length):
        return {"sequences": outputs["sequences"][i], "width": int(outputs["width"][i])}

    def postprocess(self, feature, return_full_text=True, return_tensors=False, return_type=None,
                    clean_up_tokenization_spaces=True, skip_special_tokens=True):
        prompt, width, length = feature["prompt"], feature["width"], len(feature["input_ids"])
        results = []
        for row in feature["sequences"]:
            new = [int(t) for t in row[width:]]
            if return_tensors:
                results.append({"generated_token_ids": [int(t) for t in row[width - length:]]})
                continue
            decode = dict(skip_special_tokens=skip_special_tokens,
                          clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            prompt_ids = [int(t) for t in row[width - length:width]]
            full = self.tokenizer.decode(prompt_ids + new, **decode)
            prompt_len = len(self.tokenizer.decode(prompt_ids, **decode))
            generated = full[prompt_len:]
            if isinstance(prompt, Chat):
                if return_full_text:
                    messages = list(prompt.messages)
                    if messages[-1]["role"] == "assistant":
                        messages[-1] = {**messages[-1], "content": messages[-1]["content"] + generated}
                    else:
                        messages.append({"role": "assistant", "content": generated})
                    results.append({"generated_text": messages})
                else:
                    results.append({"generated_text": generated})
            else:
                text = feature["prompt_text"][feature["prefix_len"]:] + generated if return_full_text else generated
                results.append({"generated_text": text})
        return results
