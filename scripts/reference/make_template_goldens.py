"""Writes the chat-template goldens (Tests/goldens/templates/) that KilnTemplatesTests compares against.

    .venv-ref/bin/python scripts/reference/make_template_goldens.py [--collect SDIST_DIR]

Rendering goes through transformers' own `render_jinja_template` (the code behind `apply_chat_template`:
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, its `tojson`, `raise_exception`,
`strftime_now`), so the expected strings are exactly what transformers produces.

--collect re-extracts the templates from their real sources into Tests/goldens/templates/*.jinja:
the GGUF metadata of the test models, and the llama-cpp-python 0.3.36 sdist unpacked at SDIST_DIR
(`pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36`, then `tar xzf`). The two
templates that come from other files (Gemma 3, Zephyr) are kept as committed; `sources.json` says where
each one came from.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "goldens" / "templates"

import jinja2  # noqa: E402
import transformers  # noqa: E402
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template  # noqa: E402

LLAMA_CPP = "llama_cpp_python-0.3.36/vendor/llama.cpp"
TEST_CPP = f"{LLAMA_CPP}/tests/test-chat-template.cpp"

# name -> where the template comes from, and the special tokens the model's tokenizer_config.json declares.
SOURCES = {
    "smollm2": {
        "source": "GGUF metadata tokenizer.chat_template of models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "gguf": "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
    },
    "qwen2.5": {
        "source": "GGUF metadata tokenizer.chat_template of models/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "gguf": "models/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "bos_token": "", "eos_token": "<|im_end|>", "tools": True,
    },
    "llama3.1": {
        "source": f"llama-cpp-python 0.3.36 sdist: {LLAMA_CPP}/models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
        "file": f"{LLAMA_CPP}/models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "tools": True,
    },
    "mistral-v3": {
        "source": f"llama-cpp-python 0.3.36 sdist: {TEST_CPP}, entry \"Mistral-Large-Instruct-2407 (mistralai 'v3' "
        "template; modified to have system prompt at start)\": the v3 template of Mistral-7B-Instruct-v0.3",
        "cpp_entry": "Mistral-Large-Instruct-2407 (mistralai 'v3' template",
        "bos_token": "<s>", "eos_token": "</s>", "tools": True,
    },
    "mistral-v1": {
        "source": f"llama-cpp-python 0.3.36 sdist: {TEST_CPP}, entry \"mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old "
        "pre-v1 without a system prompt)\"",
        "cpp_entry": "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1",
        "bos_token": "<s>", "eos_token": "</s>",
    },
    "gemma3": {
        "source": "Gemma 3 instruct tokenizer_config.json chat_template (google/gemma-3-*-it) as quoted in "
        "github.com/ShishirPatil/gorilla berkeley-function-call-leaderboard/bfcl_eval/model_handler/local_inference/"
        "gemma.py (commit 6ea57973); that copy has real newlines where the Hub file writes \\n inside string "
        "literals, which renders identically",
        "bos_token": "<bos>", "eos_token": "<eos>",
    },
    "phi3": {
        "source": f"llama-cpp-python 0.3.36 sdist: {TEST_CPP}, entry \"Phi-3-mini\"",
        "cpp_entry": "Phi-3-mini",
        "bos_token": "<s>", "eos_token": "<|endoftext|>",
    },
    "phi3.5": {
        "source": f"llama-cpp-python 0.3.36 sdist: {LLAMA_CPP}/models/templates/microsoft-Phi-3.5-mini-instruct.jinja",
        "file": f"{LLAMA_CPP}/models/templates/microsoft-Phi-3.5-mini-instruct.jinja",
        "bos_token": "<s>", "eos_token": "<|endoftext|>",
    },
    "zephyr": {
        "source": "HuggingFaceH4/zephyr-7b-beta (and TinyLlama/TinyLlama-1.1B-Chat-v1.0) tokenizer_config.json "
        "chat_template, as quoted verbatim in github.com/huggingface/trl examples (DEFAULT_CHAT_TEMPLATE)",
        "bos_token": "<s>", "eos_token": "</s>",
    },
    "chatml": {
        "source": f"llama-cpp-python 0.3.36 sdist: {TEST_CPP}, entry \"teknium/OpenHermes-2.5-Mistral-7B\" "
        "(also llama_cpp/llama_chat_format.py CHATML_CHAT_TEMPLATE)",
        "cpp_entry": "teknium/OpenHermes-2.5-Mistral-7B",
        "bos_token": "<s>", "eos_token": "<|im_end|>",
    },
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
]

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
CONVERSATIONS = {
    "system_user": [SYSTEM, {"role": "user", "content": "What is the capital of France?"}],
    "multi_turn": [
        SYSTEM,
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "Name three primes."},
    ],
    "no_system": [
        {"role": "user", "content": "Write a haiku."},
        {"role": "assistant", "content": "Leaves fall in silence\nriver carries them away\nautumn says goodbye"},
        {"role": "user", "content": "Another one, please."},
    ],
    "ends_with_assistant": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ],
    "unicode": [
        SYSTEM,
        {"role": "user", "content": "Grüße aus Köln! 你好，世界 🌍 — «ça va?» \"quoted\" and 'single'"},
        {"role": "assistant", "content": "¡Hola! ✓ Ωμέγα\ttab\nnew line"},
        {"role": "user", "content": "  padded with spaces \n\n"},
    ],
    "assistant_first": [
        {"role": "assistant", "content": "I speak first."},
        {"role": "user", "content": "Fine."},
    ],
    "text_parts": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "the sea."}]},
    ],
    "tool_calls": [
        SYSTEM,
        {"role": "user", "content": "What's the weather in Paris, and what is 2+3?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call00001", "type": "function",
                 "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
                {"id": "call00002", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}},
            ],
        },
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temperature\": 21.5}"},
        {"role": "tool", "tool_call_id": "call00002", "name": "add", "content": "5"},
        {"role": "assistant", "content": "It is 21.5 °C in Paris, and 2+3 = 5."},
        {"role": "user", "content": "Thanks!"},
    ],
    "single_tool_call": [
        {"role": "user", "content": "Add 40 and 2."},
        {
            "role": "assistant",
            "tool_calls": [{"id": "abc123XYZ", "type": "function", "function": {"name": "add", "arguments": {"a": 40, "b": 2}}}],
        },
        {"role": "tool", "tool_call_id": "abc123XYZ", "name": "add", "content": "42"},
    ],
}


def cpp_template(sdist: Path, entry: str) -> str:
    text = (sdist / TEST_CPP).read_text()
    start = text.index(entry)
    m = re.search(r'/\* \.template_str= \*/ ("(?:[^"\\]|\\.)*")', text[start:])
    return ast.literal_eval(m.group(1))


def gguf_template(path: Path) -> str:
    import gguf

    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def collect(sdist: Path) -> None:
    for name, info in SOURCES.items():
        if "gguf" in info:
            text = gguf_template(ROOT / info["gguf"])
        elif "file" in info:
            text = (sdist / info["file"]).read_text()
        elif "cpp_entry" in info:
            text = cpp_template(sdist, info["cpp_entry"])
        else:
            continue
        (OUT / f"{name}.jinja").write_text(text)


def outcome(render) -> dict:
    try:
        return {"expected": render()}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception() raises a bare TemplateError; everything else is a subclass or a Python error.
        return {"error": str(e), "raised": type(e) is jinja2.exceptions.TemplateError}
    except Exception as e:  # noqa: BLE001 - a template that fails on this input is a golden too
        return {"error": str(e), "raised": False}


def render_goldens() -> None:
    (OUT / "conversations.json").write_text(json.dumps({"tools": TOOLS, "conversations": CONVERSATIONS},
                                                       indent=1, ensure_ascii=False) + "\n")
    sources = {}
    for name, info in SOURCES.items():
        template = (OUT / f"{name}.jinja").read_text()
        cases = []
        tool_settings = [False, True] if info.get("tools") else [False]
        for conversation, messages in CONVERSATIONS.items():
            for with_tools in tool_settings:
                for agp in (False, True):
                    def render():
                        rendered, _ = render_jinja_template(
                            conversations=[messages], chat_template=template, tools=TOOLS if with_tools else None,
                            add_generation_prompt=agp, bos_token=info["bos_token"], eos_token=info["eos_token"])
                        return rendered[0]
                    case = {"conversation": conversation, "tools": with_tools, "add_generation_prompt": agp}
                    case.update(outcome(render))
                    cases.append(case)
        ok = sum("expected" in c for c in cases)
        print(f"{name}: {len(cases)} cases, {ok} rendered, {len(cases) - ok} errors")
        sources[name] = {"source": info["source"], "bos_token": info["bos_token"], "eos_token": info["eos_token"]}
        (OUT / f"{name}.golden.json").write_text(json.dumps(cases, indent=0, ensure_ascii=False) + "\n")
    meta = {"transformers": transformers.__version__, "jinja2": jinja2.__version__,
            "script": "scripts/reference/make_template_goldens.py"}
    (OUT / "sources.json").write_text(json.dumps({"meta": meta, "templates": sources}, indent=1, ensure_ascii=False) + "\n")


def render_features() -> None:
    from template_features import FEATURES

    out = []
    for case in FEATURES:
        name, source, variables = case[0], case[1], case[2]
        result = {"name": name, "template": source, "variables": variables}
        result.update(outcome(lambda: _compile_jinja_template(source).render(**variables)))
        if len(case) > 3:
            result["line"] = case[3]
        if "error" in result:
            try:
                _compile_jinja_template(source)
            except jinja2.exceptions.TemplateSyntaxError as e:
                result["line"] = e.lineno
        out.append(result)
    print(f"features: {len(out)} cases, {sum('error' in c for c in out)} errors")
    (OUT / "features.json").write_text(json.dumps(out, indent=0, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collect", type=Path, help="unpacked llama-cpp-python 0.3.36 sdist parent directory")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.collect:
        collect(args.collect)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    render_goldens()
    render_features()


if __name__ == "__main__":
    main()
