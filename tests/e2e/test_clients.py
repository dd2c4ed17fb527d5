"""Kiln against TGI's own client libraries: huggingface_hub's InferenceClient and text_generation's Client."""
import json
import os
import re
import socket
import threading
import time
import urllib.request

from huggingface_hub import InferenceClient
from text_generation import Client

PROMPT = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"


def test_inference_client_stream_equals_non_stream(server):
    client = InferenceClient(base_url=server["url"])
    full = client.text_generation(PROMPT, max_new_tokens=24, details=True)
    events = list(client.text_generation(PROMPT, max_new_tokens=24, details=True, stream=True))
    streamed = "".join(e.token.text for e in events if not e.token.special)
    assert streamed == full.generated_text
    assert events[-1].generated_text == full.generated_text
    assert events[-1].details.generated_tokens == len(events) == full.details.generated_tokens
    assert full.details.finish_reason in ("length", "eos_token", "stop_sequence")
    assert len(full.details.tokens) == full.details.generated_tokens
    # Without details the client yields every token's text, special ones included (as against TGI).
    plain = "".join(client.text_generation(PROMPT, max_new_tokens=24, stream=True))
    assert plain == "".join(e.token.text for e in events)


def test_text_generation_client(server):
    client = Client(server["url"])
    full = client.generate(PROMPT, max_new_tokens=16, decoder_input_details=True, top_n_tokens=2)
    tokens = list(client.generate_stream(PROMPT, max_new_tokens=16))
    streamed = "".join(t.token.text for t in tokens if not t.token.special)
    assert streamed == full.generated_text
    assert tokens[-1].details.generated_tokens == len(tokens) == full.details.generated_tokens
    assert len(full.details.prefill) > 0 and full.details.prefill[0].logprob is None
    assert all(len(t) == 2 for t in full.details.top_tokens)


GOLDENS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "Tests",
                       "goldens", "prompt_logprobs_smollm2.json")
# The served (8-bit fast) path against transformers' float32 logprobs: looser than the reference path's bound
# (Tests/goldens meta), which the Swift test checks.
FAST_PATH_TOLERANCE = 0.5


def test_inference_client_prefill_logprobs_match_transformers(server):
    """decoder_input_details: each prompt token with its logprob (the first null), compared with transformers' own
    log-probabilities of the same tokens (Tests/goldens/prompt_logprobs_smollm2.json)."""
    with open(GOLDENS) as f:
        golden = {p["name"]: p for p in json.load(f)["prompts"]}["chat_chatml"]
    with open(os.path.join(os.path.dirname(GOLDENS), "prompts.json")) as f:
        text = {p["name"]: p["text"] for p in json.load(f)}["chat_chatml"]
    client = InferenceClient(base_url=server["url"])
    out = client.text_generation(text, max_new_tokens=2, details=True, decoder_input_details=True)
    prefill = out.details.prefill
    assert [t.id for t in prefill] == golden["ids"]
    assert prefill[0].logprob is None
    worst = max(abs(t.logprob - want) for t, want in zip(prefill[1:], golden["logprobs"][1:]))
    assert worst < FAST_PATH_TOLERANCE, worst


def test_best_of_returns_the_most_likely_sequence(server):
    """TGI's best_of (at most --max-best-of, 2 by default): sampled sequences over one prompt; the reply is the
    one whose tokens' logprobs sum highest, the others in details.best_of_sequences."""
    client = InferenceClient(base_url=server["url"])
    out = client.text_generation(PROMPT, max_new_tokens=12, details=True, best_of=2, do_sample=True,
                                 temperature=1.2, decoder_input_details=True)
    others = out.details.best_of_sequences
    assert len(others) == 1
    best = sum(t.logprob for t in out.details.tokens)
    assert all(best >= sum(t.logprob for t in o.tokens) - 1e-4 for o in others)
    assert all(len(o.prefill) == len(out.details.prefill) and o.seed is not None for o in others)
    assert [t.logprob for t in others[0].prefill] == [t.logprob for t in out.details.prefill]


def test_validation_error_reaches_client(server):
    client = Client(server["url"])
    try:
        client.generate(PROMPT, max_new_tokens=4, top_p=1.0)
    except Exception as e:  # text_generation raises ValidationError
        assert "top_p" in str(e)
    else:
        raise AssertionError("expected a validation error")


def blocks_in_use(url):
    text = urllib.request.urlopen(url + "/metrics").read().decode()
    return int(float(re.search(r"^kiln_kv_blocks_in_use (\S+)$", text, re.M).group(1)))


def raw_stream(port, body, read_events):
    """Opens a stream and reads `read_events` events (all when None), then closes the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    payload = json.dumps(body).encode()
    s.sendall(b"POST /generate_stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if read_events is not None and data.count(b"data:") >= read_events:
            break
        if read_events is None and b'"generated_text":"' in data.split(b"data:")[-1] and data.endswith(b"\r\n0\r\n\r\n"):
            break
    s.close()
    return data


def test_disconnects_free_every_kv_block(server):
    port = int(server["url"].rsplit(":", 1)[1])
    threads = []
    for i in range(64):
        body = {"inputs": f"Story number {i}: once upon a time",
                "parameters": {"max_new_tokens": 60, "details": True}}
        t = threading.Thread(target=raw_stream, args=(port, body, 5 if i % 2 else None))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=300)
    deadline = time.time() + 30
    while blocks_in_use(server["url"]) != 0 and time.time() < deadline:
        time.sleep(0.2)
    assert blocks_in_use(server["url"]) == 0
    text = urllib.request.urlopen(server["url"] + "/metrics").read().decode()
    assert 'tgi_request_failure{err="dropped"}' in text
