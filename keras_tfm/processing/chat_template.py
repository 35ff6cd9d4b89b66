"""Chat templates rendered with jinja2 as ``transformers`` renders them (sandboxed, same globals).

``ChatTemplateMixin`` gives the tokenizer ``chat_template`` and ``apply_chat_template``.
"""

import functools
import json
import os
from datetime import datetime


def _raise_exception(message):
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@functools.lru_cache(maxsize=16)
def _compile(template):
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(template, messages, tools=None, documents=None, add_generation_prompt=False,
                continue_final_message=False, **kwargs):
    """The prompt text of ``messages`` under ``template``."""
    if add_generation_prompt and continue_final_message:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible: use "
                         "continue_final_message to continue the last (assistant) message.")
    text = _compile(template).render(messages=messages, tools=tools, documents=documents,
                                     add_generation_prompt=add_generation_prompt, **kwargs)
    if continue_final_message:
        final = messages[-1]["content"]
        if isinstance(final, (list, tuple)):
            final = "".join(part.get("text", "") for part in final if isinstance(part, dict))
        final = final.strip()
        if final not in text:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat "
                             "after applying the chat template.")
        text = text[: text.rindex(final) + len(final)]
    return text


class ChatTemplateMixin:
    """``chat_template`` / ``apply_chat_template`` of a tokenizer (it reads ``init_kwargs`` and ``name_or_path``)."""

    @property
    def chat_template(self):
        """The jinja chat template: tokenizer_config.json's ``chat_template``, or chat_template.jinja."""
        template = self.__dict__.get("_chat_template_override") or self.init_kwargs.get("chat_template")
        if template is None and self.name_or_path and os.path.isdir(self.name_or_path):
            path = os.path.join(self.name_or_path, "chat_template.jinja")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    template = f.read()
        return template

    @chat_template.setter
    def chat_template(self, value):
        self._chat_template_override = value
        self.init_kwargs["chat_template"] = value

    def apply_chat_template(self, conversation, tools=None, documents=None, chat_template=None,
                            add_generation_prompt=False, continue_final_message=False, tokenize=True, padding=False,
                            truncation=False, max_length=None, return_tensors=None, return_dict=False,
                            **kwargs):
        """Renders chat messages with the tokenizer's jinja chat template, as ``transformers`` does.

        ``conversation`` is a list of ``{"role", "content"}`` dicts (or a list of such lists).
        Returns the text (``tokenize=False``), the token ids, or with ``return_dict=True`` a
        ``BatchEncoding``.
        """
        template = chat_template if chat_template is not None else self.chat_template
        if isinstance(template, dict):
            template = template.get("default", next(iter(template.values())))
        if template is None:
            raise ValueError(
                "Cannot use apply_chat_template because this tokenizer does not have a chat template (no "
                "chat_template in tokenizer_config.json, no chat_template.jinja). Pass chat_template=... or set "
                "tokenizer.chat_template."
            )
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if batched else [conversation]
        special = {name: getattr(self, name, None) for name in ("bos_token", "eos_token", "unk_token", "pad_token")}
        texts = [render_chat(template, list(c), tools=tools, documents=documents,
                             add_generation_prompt=add_generation_prompt,
                             continue_final_message=continue_final_message, **special, **kwargs)
                 for c in conversations]
        if not tokenize:
            return texts if batched else texts[0]
        encoded = self(texts, add_special_tokens=False, padding=padding, truncation=truncation, max_length=max_length,
                       return_tensors=return_tensors)
        if return_dict:
            return encoded if batched or return_tensors else type(encoded)({k: v[0] for k, v in encoded.items()})
        ids = encoded["input_ids"]
        return ids if batched or return_tensors else ids[0]
