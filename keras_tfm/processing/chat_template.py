"""Chat templates rendered with jinja2 as ``transformers`` renders them (sandboxed, same globals)."""

import functools
import json
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
