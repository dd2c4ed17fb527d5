"""Kiln's OpenAI routes against the official `openai` Python client (pinned in the Makefile)."""
import json
import time
import urllib.request

import openai
import pytest
from openai import OpenAI

CHAT = [{"role": "user", "content": "Name three colours."}]


def client(server):
    return OpenAI(base_url=server["url"] + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_models(server):
    models = client(server).models.list().data
    assert [m.id for m in models] == ["smollm2"]
    assert models[0].object == "model" and models[0].owned_by == "kiln" and models[0].created > 0


def test_chat_stream_equals_non_stream(server):
    c = client(server)
    full = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=24)
    assert full.object == "chat.completion" and full.id.startswith("chatcmpl-")
    assert full.system_fingerprint and full.model == "smollm2"
    choice = full.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant" and choice.logprobs is None
    assert choice.finish_reason in ("stop", "length")
    assert full.usage.total_tokens == full.usage.prompt_tokens + full.usage.completion_tokens

    chunks = list(c.chat.completions.create(
        model="smollm2", messages=CHAT, temperature=0, max_tokens=24, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.object == "chat.completion.chunk" and ch.id == chunks[0].id for ch in chunks)
    content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert content == choice.message.content
    finals = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals == [choice.finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert all(ch.usage is None for ch in chunks[:-1])


def test_chat_n2_and_seed_reproducibility(server):
    c = client(server)
    kwargs = dict(model="smollm2", messages=CHAT, temperature=1.0, max_tokens=12, n=2, seed=1234)
    a = c.chat.completions.create(**kwargs)
    b = c.chat.completions.create(**kwargs)
    assert [ch.index for ch in a.choices] == [0, 1]
    assert [ch.message.content for ch in a.choices] == [ch.message.content for ch in b.choices]
    # Streamed, the same seeds give the same two texts.
    texts = {0: "", 1: ""}
    for ch in c.chat.completions.create(stream=True, **kwargs):
        for choice in ch.choices:
            texts[choice.index] += choice.delta.content or ""
    assert [texts[0], texts[1]] == [ch.message.content for ch in a.choices]


def metric(url, name):
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def test_n_choices_compute_the_prompt_once(server):
    """n choices fork one computed prompt: the forward pass runs the prompt once plus each choice's tokens after its
    first, and each choice is the text that choice's seed gives alone (choice i is seeded seed + i)."""
    c = client(server)
    # A prompt no earlier test sent, so no prefix-cache hit shortens it.
    prompt = f"Zebra {time.time_ns()} notes: the kiln at the end of the lane was"
    before = metric(server["url"], "kiln_forward_tokens_total")
    forks = metric(server["url"], "kiln_forked_sequences_total")
    many = c.completions.create(model="smollm2", prompt=prompt, max_tokens=10, temperature=0.8, n=3, seed=40)
    expected = many.usage.prompt_tokens + many.usage.completion_tokens - 3
    # The engine publishes its counters just after the step that ended the request.
    deadline = time.time() + 5
    while metric(server["url"], "kiln_forward_tokens_total") - before < expected and time.time() < deadline:
        time.sleep(0.05)
    assert metric(server["url"], "kiln_forward_tokens_total") - before == expected
    assert metric(server["url"], "kiln_forked_sequences_total") - forks == 3
    alone = [c.completions.create(model="smollm2", prompt=prompt, max_tokens=10, temperature=0.8, seed=40 + i)
             .choices[0].text for i in range(3)]
    assert [ch.text for ch in many.choices] == alone


def test_completions_best_of(server):
    """best_of: candidates seeded as n choices are; the one with the highest mean token logprob comes back."""
    c = client(server)
    kwargs = dict(model="smollm2", prompt="The kiln was", max_tokens=8, temperature=1.0, seed=11)
    candidates = c.completions.create(n=3, logprobs=0, **kwargs)
    means = [sum(ch.logprobs.token_logprobs) / len(ch.logprobs.token_logprobs) for ch in candidates.choices]
    best = c.completions.create(best_of=3, **kwargs)
    assert [ch.text for ch in best.choices] == [candidates.choices[means.index(max(means))].text]
    assert best.usage.completion_tokens == candidates.usage.completion_tokens
    with pytest.raises(openai.BadRequestError):
        c.completions.create(best_of=2, stream=True, **kwargs)


def test_chat_stop(server):
    c = client(server)
    free = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=24)
    text = free.choices[0].message.content
    words = text.split()
    assert len(words) >= 3, text
    stop = words[2]
    cut = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=24, stop=[stop])
    assert cut.choices[0].message.content == text[:text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_chat_logprobs(server):
    c = client(server)
    r = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=8,
                                  logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert len(entry.top_logprobs) == 2
        # Greedy: the chosen token is the most likely one.
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-4)
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token


def test_completions(server):
    c = client(server)
    prompt = "The capital of France is"
    full = c.completions.create(model="smollm2", prompt=prompt, max_tokens=8, temperature=0)
    assert full.object == "text_completion" and full.choices[0].finish_reason in ("stop", "length")
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(
        model="smollm2", prompt=prompt, max_tokens=8, temperature=0, stream=True))
    assert streamed == full.choices[0].text
    echo = c.completions.create(model="smollm2", prompt=prompt, max_tokens=8, temperature=0, echo=True, logprobs=2)
    lp = echo.choices[0].logprobs
    assert echo.choices[0].text == prompt + full.choices[0].text
    assert len(lp.tokens) == echo.usage.prompt_tokens + echo.usage.completion_tokens
    # The first prompt token has no logprob and no alternatives; every later token, prompt or generated, has both.
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(x is not None and x <= 0 for x in lp.token_logprobs[1:])
    assert all(len(t) == 2 for t in lp.top_logprobs[1:])
    # A prompt token's logprob is its value among the alternatives when it is one of the two most likely.
    for token, logprob, top in zip(lp.tokens[1:], lp.token_logprobs[1:], lp.top_logprobs[1:]):
        if token in top:
            assert abs(top[token] - logprob) < 1e-4
        else:
            assert logprob <= min(top.values()) + 1e-4
    # Streamed, the echo comes as its own chunk once the prompt is computed, with the same prompt logprobs.
    chunks = list(c.completions.create(model="smollm2", prompt=prompt, max_tokens=8, temperature=0, echo=True,
                                       logprobs=2, stream=True))
    first = chunks[0].choices[0]
    assert first.text == prompt
    assert first.logprobs.tokens == lp.tokens[:echo.usage.prompt_tokens]
    assert first.logprobs.token_logprobs[0] is None
    assert all(abs(a - b) < 1e-4 for a, b in zip(first.logprobs.token_logprobs[1:],
                                                   lp.token_logprobs[1:echo.usage.prompt_tokens]))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == echo.choices[0].text
    many = c.completions.create(model="smollm2", prompt=[prompt, "Once upon a time"], max_tokens=4,
                                temperature=0, n=2)
    assert [ch.index for ch in many.choices] == [0, 1, 2, 3]
    assert many.choices[0].text == many.choices[1].text == full.choices[0].text[:len(many.choices[0].text)]


def test_errors_are_typed(server):
    c = client(server)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="smollm2", messages=CHAT, temperature=3)
    assert e.value.body["param"] == "temperature" and e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.UnprocessableEntityError) as e:
        c.chat.completions.create(model="smollm2", messages=CHAT, max_tokens=4,
                                  response_format={"type": "json_schema",
                                                   "json_schema": {"name": "x", "schema": {"not": {}}}})
    assert "response_format" in e.value.message and "not" in e.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        c.completions.create(model="smollm2", prompt="x", suffix="y", max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model="smollm2", prompt="x" * 5000, max_tokens=2)


def test_cjk_and_emoji_stream_whole_characters(qwen_server):
    c = client(qwen_server)
    messages = [{"role": "user", "content": "用中文写一句关于猫的话，并加上三个表情符号 🐱😺🎉。"}]
    chunks = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="qwen2.5", messages=messages, temperature=0, max_tokens=32, stream=True) if ch.choices]
    text = "".join(chunks)
    assert any(ord(ch) > 0x2E80 for ch in text), text
    assert all("\ufffd" not in chunk for chunk in chunks)
    full = c.chat.completions.create(model="qwen2.5", messages=messages, temperature=0, max_tokens=32)
    assert full.choices[0].message.content == text


TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def test_tool_call_round_trip(qwen_server):
    c = client(qwen_server)
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the weather in Paris right now? Use the get_weather tool."}]
    r = c.chat.completions.create(model="qwen2.5", messages=messages, tools=TOOLS, temperature=0, max_tokens=64)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message.content
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert "paris" in json.loads(call.function.arguments)["city"].lower()

    # Streamed, the call arrives as OpenAI streams it: a head with id, type and name, then the arguments.
    calls, reasons = {}, []
    for ch in c.chat.completions.create(model="qwen2.5", messages=messages, tools=TOOLS, temperature=0,
                                        max_tokens=64, stream=True):
        delta = ch.choices[0].delta
        assert "<tool_call>" not in (delta.content or "")
        for d in delta.tool_calls or []:
            entry = calls.setdefault(d.index, {"id": d.id, "name": "", "arguments": ""})
            entry["name"] += d.function.name or ""
            entry["arguments"] += d.function.arguments or ""
        if ch.choices[0].finish_reason:
            reasons.append(ch.choices[0].finish_reason)
    assert reasons == ["tool_calls"]
    assert [(v["name"], v["arguments"]) for v in calls.values()] == [("get_weather", call.function.arguments)]

    # The call and the tool's result go back through the template; the model answers from the result. (Asked
    # nothing more, this 0.5B checkpoint repeats its call, hence the closing user turn.)
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 18, "sky": "sunny"})},
        {"role": "user", "content": "Now tell me the answer in one sentence."},
    ]
    final = c.chat.completions.create(model="qwen2.5", messages=messages, tools=TOOLS, temperature=0, max_tokens=48)
    assert final.choices[0].finish_reason in ("stop", "length")
    assert not final.choices[0].message.tool_calls
    assert "18" in final.choices[0].message.content


PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120},
                                           "languages": {"type": "array", "items": {"enum": ["en", "fr", "de"]},
                                                         "minItems": 1, "maxItems": 3}},
          "required": ["name", "age", "languages"], "additionalProperties": False}


def test_response_format_json_schema_and_json_object(server):
    import jsonschema
    c = client(server)
    messages = [{"role": "user", "content": "Describe a person as JSON."}]
    for seed in (1, 2, 3):
        reply = c.chat.completions.create(
            model="smollm2", messages=messages, max_tokens=120, seed=seed, temperature=0.9,
            response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON,
                                                                    "strict": True}})
        choice = reply.choices[0]
        assert choice.finish_reason == "stop", choice
        jsonschema.validate(json.loads(choice.message.content), PERSON)
    # json_object bounds no string's length, so the prompt asks for something short: the greedy reply must end
    # by itself (finish_reason stop) as a complete object.
    short = [{"role": "user", "content": "Give Alice's name and age (30) as a JSON object with keys name and age."}]
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in c.chat.completions.create(
        model="smollm2", messages=short, max_tokens=120, temperature=0, stream=True,
        response_format={"type": "json_object"}) if chunk.choices)
    whole = c.chat.completions.create(model="smollm2", messages=short, max_tokens=120, temperature=0,
                                      response_format={"type": "json_object"}).choices[0]
    assert whole.finish_reason == "stop", whole
    assert streamed == whole.message.content
    assert isinstance(json.loads(whole.message.content), dict)
