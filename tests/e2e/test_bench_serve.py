"""`kiln bench serve` against scripted servers whose timing is known, then against Kiln itself.

The scripted servers speak TGI's /generate_stream and OpenAI's /v1/completions and send the first token after
FIRST seconds and every next one GAP seconds later, so vLLM's definitions give the expected numbers: TTFT ≈ FIRST,
TPOT ≈ ITL ≈ GAP, E2E ≈ FIRST + (n - 1) × GAP."""
import json
import os
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BINARY, MODEL

FIRST = 0.15
GAP = 0.03


class Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path in ("/tokenize", "/extras/tokenize"):
            text = body.get("inputs") or body.get("input")
            words = text.split(" ")
            reply = [{"id": i, "text": w} for i, w in enumerate(words)] if self.path == "/tokenize" else {"tokens": list(range(len(words)))}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        tgi = self.path == "/generate_stream"
        n = body["parameters"]["max_new_tokens"] if tgi else body["max_tokens"]
        prompt = body["inputs"] if tgi else body["prompt"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        start = time.monotonic()
        for i in range(n):
            time.sleep(max(0, start + FIRST + i * GAP - time.monotonic()))
            if tgi:
                event = {"index": i + 1, "token": {"id": 1, "text": " x", "logprob": 0, "special": False}}
                if i == n - 1:
                    event["generated_text"] = " x" * n
                    event["details"] = {"finish_reason": "length", "generated_tokens": n,
                                        "input_length": len(prompt.split(" "))}
                send(b"data:" + json.dumps(event).encode() + b"\n\n")
            else:
                chunk = {"choices": [{"index": 0, "text": " x", "finish_reason": None}]}
                send(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        if not tgi:
            final = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}
            send(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def scripted_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def bench(url, backend, out, *extra):
    cmd = [BINARY, "bench", "serve", "--url", url, "--backend", backend, "--num-prompts", "8", "--max-concurrency", "4",
           "--input-len", "16", "--output-len", "10", "--result-file", str(out), *extra]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr + run.stdout
    return run.stdout, json.load(open(out))


def test_metrics_against_a_scripted_server(tmp_path):
    httpd, url = scripted_server()
    try:
        for backend in ("tgi", "openai"):
            text, r = bench(url, backend, tmp_path / f"{backend}.json", "--goodput-ttft", "10000", "--label", backend)
            s = r["summary"]
            assert "Serving Benchmark Result" in text and "Mean TPOT (ms)" in text
            assert s["completed"] == 8 and s["failed"] == 0
            assert r["output_lens"] == [10] * 8
            assert r["input_lens"] == [16] * 8, "the dataset is tokenized to exactly --input-len"
            # Loopback and a Python server add a few milliseconds at most; the bounds allow a loaded machine.
            assert FIRST * 1000 <= s["ttft"]["median"] < FIRST * 1000 + 60
            assert GAP * 1000 - 3 <= s["tpot"]["median"] < GAP * 1000 + 15
            assert GAP * 1000 - 10 <= s["itl"]["median"] < GAP * 1000 + 15
            expected_e2e = (FIRST + 9 * GAP) * 1000
            assert expected_e2e <= s["e2el"]["median"] < expected_e2e + 80
            # Two waves of four requests at concurrency 4.
            wave = FIRST + 9 * GAP
            assert 2 * wave <= s["duration"] < 2 * wave + 1.5
            assert abs(s["output_throughput"] - 80 / s["duration"]) < 1e-6
            assert abs(s["request_goodput"] - s["request_throughput"]) < 1e-9
            assert r["peak_concurrency"] == 4
    finally:
        httpd.shutdown()
    chart = tmp_path / "chart.svg"
    table = tmp_path / "table.md"
    run = subprocess.run([BINARY, "bench", "plot", str(tmp_path / "tgi.json"), str(tmp_path / "openai.json"),
                          "-o", str(chart), "--markdown", str(table)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    root = ET.parse(chart).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "tgi" in texts and "openai" in texts
    assert any(t and t.startswith("Output throughput") for t in texts)
    rows = [line for line in open(table) if line.startswith("| tgi") or line.startswith("| openai")]
    assert len(rows) == 2


def test_bench_serve_against_kiln(server, tmp_path):
    text, r = bench(server["url"], "tgi", tmp_path / "kiln.json")
    s = r["summary"]
    assert s["completed"] == 8, r["errors"]
    assert all(n == 16 for n in r["input_lens"]), "Kiln's /tokenize makes the prompts exactly 16 tokens"
    assert all(1 <= n <= 10 for n in r["output_lens"])
    assert s["ttft"]["median"] > 0 and s["e2el"]["median"] >= s["ttft"]["median"]


def test_bench_model_still_runs_the_engine_benchmark():
    if not os.path.exists(MODEL):
        pytest.skip(f"missing {MODEL}")
    run = subprocess.run([BINARY, "bench", "--model", MODEL, "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [(8, 0), (0, 4)]
