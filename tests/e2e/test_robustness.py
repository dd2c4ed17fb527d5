"""About 2,000 malformed or hostile requests: every one gets a 4xx (or a 200 stream holding an error event), and the
server keeps serving. Loopback only, bounded loops, fixed seed."""
import json
import random
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def post(url, path, body, headers=None):
    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (ConnectionError, urllib.error.URLError):
        return None, b""


def random_json(rng, depth=0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0: return rng.choice([None, True, False])
    if kind == 1: return rng.choice([0, -1, 2**63, -2**64, 10**400, 1e308, 3.5, -0.0])
    if kind == 2: return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(20)))
    if kind == 3: return rng.choice(["inputs", "parameters", "", "\u0000", "\ud7ff"])
    if kind == 4: return rng.choice([[], {}, "NaN"])
    if kind == 5: return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["inputs", "parameters", "max_new_tokens", "temperature", "top_k", "top_p", "stop", "best_of",
            "truncate", "seed", "details", "stream", "top_n_tokens", "do_sample", "x"]
    if depth == 0:
        keys = keys[1:]  # a top-level string "inputs" would be a valid request generating hundreds of tokens
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def hostile_bodies(rng):
    fields = {"max_new_tokens": [0, -5, 10**12, "5", 1.5, 10**30, 2],
              "temperature": [0, -1, "hot", 1e39, None], "top_k": [0, -1, 2**40, "k"],
              "top_p": [0, 1, 1.5, -0.1, "p"], "typical_p": [0, 1, 2], "stop": ["x", [1], ["a"] * 20, [""]],
              "best_of": [0, 5, -1, 10**9], "truncate": [0, -1, 10**9], "seed": [-1, 2**64, "s"],
              "top_n_tokens": [-1, 100, 2**33], "repetition_penalty": [0, -1], "frequency_penalty": [5, -5],
              "decoder_input_details": ["yes"], "details": [3], "grammar": [{"type": "regex", "value": "a+"}]}
    while True:
        choice = rng.randrange(10)
        if choice == 0:
            yield json.dumps(random_json(rng)).encode()
        elif choice == 1:
            depth = rng.choice([100, 1000, 10000, 100000])
            yield (b"[" * depth + b"]" * depth) if rng.random() < 0.5 else (b'{"a":' * depth + b"1" + b"}" * depth)
        elif choice == 2:
            yield b'{"inputs":"' + bytes(rng.randrange(256) for _ in range(50)) + b'"}'
        elif choice == 3:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif choice == 4:
            yield json.dumps({"inputs": rng.choice(["", 5, None, [], {"a": 1}])}).encode()
        else:
            name = rng.choice(list(fields))
            yield json.dumps({"inputs": "hi", "parameters": {name: rng.choice(fields[name]), "max_new_tokens": 1}}
                             if name != "max_new_tokens" else {"inputs": "hi", "parameters": {name: rng.choice(fields[name])}}).encode()


def test_hostile_requests_get_4xx_and_server_survives(server):
    url = server["url"]
    rng = random.Random(7)
    bodies = hostile_bodies(rng)
    outcomes = {}
    cases = [(rng.choice(["/generate", "/generate", "/generate_stream", "/", "/tokenize"]), next(bodies))
             for _ in range(2000)]
    # 16 at a time: bodies that happen to be valid generate, and the engine batches them.
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda c: post(url, c[0], c[1]), cases))
    for i, ((path, body), (status, reply)) in enumerate(zip(cases, results)):
        assert status is not None, f"connection failed on request {i}: {body[:80]!r}"
        if status == 200:
            # Valid-looking bodies may legitimately be served; streams carry errors as events.
            if path == "/generate_stream" and b'"error"' in reply:
                assert b'"error_type"' in reply
        else:
            assert 400 <= status < 500, f"{status} for {body[:120]!r} on {path}: {reply[:200]!r}"
        outcomes[status] = outcomes.get(status, 0) + 1
    for size in (10 * 1024 * 1024, 3 * 1024 * 1024):
        status, _ = post(url, "/generate", b'{"inputs":"' + b"a" * size + b'"}')
        assert status in (413, None)
    assert urllib.request.urlopen(url + "/health").status == 200
    status, reply = post(url, "/generate", json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 2}}).encode())
    assert status == 200 and b"generated_text" in reply
    assert sum(v for k, v in outcomes.items() if 400 <= k < 500) > 1500, outcomes


def test_slow_sender_does_not_block_others(server):
    port = int(server["url"].rsplit(":", 1)[1])
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inp")
    status, reply = post(server["url"], "/generate", json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}}).encode())
    assert status == 200
    slow.close()
    assert urllib.request.urlopen(server["url"] + "/health").status == 200
