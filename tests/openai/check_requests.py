"""Checks Chat Completions request bodies against the official `openai` library's request
types (pip install openai). Each argument is a JSON file holding one request body. Exits 1
with every problem listed when one does not conform, 0 otherwise.

pydantic validates `Iterable` fields lazily, so the messages and tools are validated one by
one against their own types, and unknown keys are refused at every level (a TypedDict
would ignore them)."""

import json
import sys
import typing

from pydantic import TypeAdapter
from openai.types.chat import completion_create_params as params
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)

try:
    from openai.types.chat import ChatCompletionFunctionToolParam as ToolParam
except ImportError:  # older releases
    from openai.types.chat import ChatCompletionToolParam as ToolParam

BY_ROLE = {
    "system": ChatCompletionSystemMessageParam,
    "user": ChatCompletionUserMessageParam,
    "assistant": ChatCompletionAssistantMessageParam,
    "tool": ChatCompletionToolMessageParam,
}


def keys(typed_dict):
    return set(typing.get_type_hints(typed_dict).keys())


def check(body):
    problems = []
    request = params.CompletionCreateParamsNonStreaming
    extra = set(body) - keys(request)
    if extra:
        problems.append(f"unknown request keys {sorted(extra)}")
    try:
        TypeAdapter(request).validate_python(body)
    except Exception as error:  # noqa: BLE001
        problems.append(f"request: {error}")
    for index, message in enumerate(body.get("messages", [])):
        kind = BY_ROLE.get(message.get("role"))
        if kind is None:
            problems.append(f"messages[{index}]: role {message.get('role')!r} is not one stagecraft sends")
            continue
        extra = set(message) - keys(kind)
        if extra:
            problems.append(f"messages[{index}]: unknown keys {sorted(extra)}")
        try:
            TypeAdapter(kind).validate_python(message, strict=False)
        except Exception as error:  # noqa: BLE001
            problems.append(f"messages[{index}]: {error}")
        for call in message.get("tool_calls", []) or []:
            if not isinstance(call.get("function", {}).get("arguments"), str):
                problems.append(f"messages[{index}]: tool call arguments must be a JSON string")
    for index, tool in enumerate(body.get("tools", []) or []):
        extra = set(tool) - keys(ToolParam)
        if extra:
            problems.append(f"tools[{index}]: unknown keys {sorted(extra)}")
        try:
            TypeAdapter(ToolParam).validate_python(tool)
        except Exception as error:  # noqa: BLE001
            problems.append(f"tools[{index}]: {error}")
    return problems


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
        for problem in check(body):
            failed = True
            print(f"{path}: {problem}")
    print(f"checked {len(paths)} request(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
