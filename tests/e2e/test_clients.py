"""Kiln against TGI's own client libraries: huggingface_hub's InferenceClient and text_generation's Client."""
import json
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
