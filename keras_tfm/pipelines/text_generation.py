"""The ``text-generation`` pipeline: continue a prompt, or answer a chat, with ``model.generate``."""

import logging

from keras_tfm.generation import GenerationConfig
from keras_tfm.pipelines.generation_base import GenerationPipeline

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


class TextGenerationPipeline(GenerationPipeline):
    """Continues prompts with a causal LM (``pipeline("text-generation", model=...)``).

    Call parameters: ``max_new_tokens`` and every other ``generate`` argument,
    ``return_full_text`` (default True), ``num_return_sequences``, ``return_tensors``
    (token ids instead of text), ``prefix``, ``add_special_tokens``. A prompt may be a
    str or a chat (list of ``{"role", "content"}`` dicts, rendered with the tokenizer's
    chat template). Batches are left-padded.

    Generation settings come from the model's ``generation_config`` first; where it leaves
    them unset, the pipeline's defaults apply: ``max_new_tokens=256`` and sampling with
    ``temperature=0.7`` (Hugging Face transformers 5's); pass ``do_sample=False`` for greedy
    search.
    """

    _load_tokenizer = True
    padding_side = "left"  # the new tokens follow the prompt directly in every row
    _default_generation_config = GenerationConfig(max_new_tokens=256, do_sample=True, temperature=0.7)

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
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None and len({len(f["input_ids"]) for f in features}) > 1:
            raise ValueError(
                "Pipeline with tokenizer without pad_token cannot do batching. You can try to set it with "
                "`pipe.tokenizer.pad_token_id = model.config.eos_token_id`."
            )
        return super()._collate(features)

    def _forward(self, batch, **generate_kwargs):
        outputs = super()._forward(batch, **generate_kwargs)
        outputs["width"] = [batch["input_ids"].shape[1]] * len(outputs["sequences"])  # the left-padded prompt width
        return outputs

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
