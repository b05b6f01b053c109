"""Row shapes: a row dict checked and normalised into a ParsedRow, or a RowError naming the field.

Accepted rows (one JSON object, or one CSV row whose cells are named by the header):
- prompts: {"prompt": str | [messages]}, {"messages": [...]}, {"conversations": [...]}
  (minimind), {"question": str, "answer": str}; a conversation ending with an assistant turn
  gives that turn as a response to the conversation before it;
- prompts with candidates: the above plus "responses": [str | {"text", "source" | "model"}];
- trl preference pairs, standard ({"prompt", "chosen", "rejected"} strings), conversational
  (lists of messages) or with an implicit prompt (no "prompt": the shared prefix of chosen and
  rejected);
- an optional "tags" list on any row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from annotate.services.import_.errors import RowError, type_name

ROLES = ("system", "user", "assistant")

RowKind = Literal["prompt", "candidates", "preference"]


@dataclass
class ParsedRow:
    line: int
    messages: list[dict]
    responses: list[tuple[str, str]]  # (text, source), chosen first for preference rows
    tags: list[str]
    kind: RowKind


def parse_row(row: dict, *, line: int, source: str) -> ParsedRow:
    """One row as a prompt conversation and its responses; raises RowError naming the field."""
    tags = _tags(row.get("tags"))
    if "chosen" in row or "rejected" in row:
        messages, chosen, rejected = _preference(row)
        return ParsedRow(line, messages, [(chosen, source), (rejected, source)], tags, "preference")
    messages, answers = _prompt(row)
    responses = [(text, source) for text in answers]
    kind = "prompt"
    if "responses" in row:
        responses += _candidates(row["responses"], source)
        kind = "candidates"
    return ParsedRow(line, messages, responses, tags, kind)


def _prompt(row: dict) -> tuple[list[dict], list[str]]:
    """(prompt conversation, answers given with it)."""
    for key in ("prompt", "messages", "conversations"):
        if key not in row:
            continue
        value = row[key]
        if key == "prompt" and isinstance(value, str):
            return [{"role": "user", "content": _text(value, key)}], []
        if key == "prompt" and not isinstance(value, list):
            raise RowError(key, f"expected a string or a list of messages, got {type_name(value)}")
        return _split_answer(_messages(value, key), key)
    if "question" in row:
        messages = [{"role": "user", "content": _text(row["question"], "question")}]
        answers = [_text(row["answer"], "answer")] if row.get("answer") is not None else []
        return messages, answers
    raise RowError(
        "prompt",
        "missing field: a row needs prompt, messages, conversations, question, "
        "or chosen and rejected",
    )


def _split_answer(messages: list[dict], key: str) -> tuple[list[dict], list[str]]:
    """A trailing assistant turn is an answer to the turns before it."""
    answers = []
    if messages[-1]["role"] == "assistant":
        answers = [messages[-1]["content"]]
        messages = messages[:-1]
    _check_prompt(messages, key, hint=" (optionally followed by one assistant answer)")
    return messages, answers


def _check_prompt(messages: list[dict], key: str, hint: str = "") -> None:
    if not any(m["role"] == "user" for m in messages):
        raise RowError(key, "needs at least one user turn")
    if messages[-1]["role"] != "user":
        raise RowError(
            key,
            f"the conversation must end with a user turn{hint}, not {messages[-1]['role']}",
        )


def _messages(value: object, key: str) -> list[dict]:
    if not isinstance(value, list):
        raise RowError(key, f"expected a list of messages, got {type_name(value)}")
    if not value:
        raise RowError(key, "the list of messages is empty")
    clean = []
    for i, message in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(message, dict):
            raise RowError(
                where, f"expected an object with role and content, got {type_name(message)}"
            )
        for part in ("role", "content"):
            if part not in message:
                raise RowError(f"{where}.{part}", "missing field")
        role = message["role"]
        if role not in ROLES:
            raise RowError(
                f"{where}.role", f"unknown role {role!r} (expected system, user or assistant)"
            )
        clean.append({"role": role, "content": _text(message["content"], f"{where}.content")})
    return clean


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise RowError(key, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise RowError(key, "must not be empty")
    return value


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError("tags", f"expected a list of strings, got {type_name(value)}")
    for i, tag in enumerate(value):
        if not isinstance(tag, str):
            raise RowError(f"tags[{i}]", f"expected a string, got {type_name(tag)}")
    return list(dict.fromkeys(value))


def _candidates(value: object, source: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise RowError(
            "responses",
            f"expected a list of strings or {{text, source}} objects, got {type_name(value)}",
        )
    out = []
    for i, item in enumerate(value):
        where = f"responses[{i}]"
        if isinstance(item, str):
            out.append((_text(item, where), source))
        elif isinstance(item, dict):
            if "text" not in item:
                raise RowError(f"{where}.text", "missing field")
            origin = item.get("source", item.get("model"))
            if origin is not None and not isinstance(origin, str):
                raise RowError(f"{where}.source", f"expected a string, got {type_name(origin)}")
            out.append((_text(item["text"], f"{where}.text"), origin or source))
        else:
            raise RowError(where, f"expected a string or an object, got {type_name(item)}")
    return out


def _preference(row: dict) -> tuple[list[dict], str, str]:
    """(prompt, chosen text, rejected text) from any of trl's preference layouts."""
    for key in ("chosen", "rejected"):
        if key not in row:
            raise RowError(key, "missing field: a preference row needs chosen and rejected")
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": _text(prompt, "prompt")}]
        elif isinstance(prompt, list):
            messages = _messages(prompt, "prompt")
            _check_prompt(messages, "prompt")
        else:
            raise RowError(
                "prompt", f"expected a string or a list of messages, got {type_name(prompt)}"
            )
        chosen = _completion(row["chosen"], "chosen")
        rejected = _completion(row["rejected"], "rejected")
    else:
        messages, chosen, rejected = _implicit_prompt(row["chosen"], row["rejected"])
    if chosen == rejected:
        raise RowError("rejected", "same text as chosen: nothing to prefer")
    return messages, chosen, rejected


def _completion(value: object, key: str) -> str:
    if isinstance(value, str):
        return _text(value, key)
    if not isinstance(value, list):
        raise RowError(key, f"expected a string or a list of messages, got {type_name(value)}")
    return _single_assistant(_messages(value, key), key)


def _single_assistant(messages: list[dict], key: str, offset: int = 0) -> str:
    if len(messages) != 1:
        raise RowError(key, f"expected one assistant message, got {len(messages)} messages")
    if messages[0]["role"] != "assistant":
        raise RowError(f"{key}[{offset}].role", f"expected assistant, got {messages[0]['role']!r}")
    return messages[0]["content"]


def _implicit_prompt(chosen: object, rejected: object) -> tuple[list[dict], str, str]:
    """trl's implicit prompt: the messages chosen and rejected share before they differ."""
    if isinstance(chosen, str) or isinstance(rejected, str):
        raise RowError("prompt", "missing field: chosen and rejected are strings, so give a prompt")
    chosen_msgs = _messages(chosen, "chosen")
    rejected_msgs = _messages(rejected, "rejected")
    shared = 0
    for a, b in zip(chosen_msgs, rejected_msgs, strict=False):
        if a != b:
            break
        shared += 1
    if shared == len(chosen_msgs) == len(rejected_msgs):
        raise RowError("rejected", "same conversation as chosen: nothing to prefer")
    prompt = chosen_msgs[:shared]
    if not prompt:
        raise RowError("chosen", "chosen and rejected share no prompt: their first turns differ")
    _check_prompt(prompt, "chosen")
    return (
        prompt,
        _single_assistant(chosen_msgs[shared:], "chosen", shared),
        _single_assistant(rejected_msgs[shared:], "rejected", shared),
    )
