"""Starts `kiln serve` on the default model at a free loopback port for the whole session."""
import os
import signal
import socket
import tempfile
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("KILN_BINARY", os.path.join(ROOT, ".build/release/kiln"))
MODEL = os.environ.get("KILN_MODEL", os.path.join(ROOT, "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("kiln serve did not become healthy")


def launch(model, log_name, extra=()):
    """Starts `kiln serve` on `model`; returns (url, process, log file)."""
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), log_name), "w")
    proc = subprocess.Popen(
        [BINARY, "serve", "--model", model, "--hostname", "127.0.0.1", "--port", str(port), *extra],
        stdout=log, stderr=subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", proc, log


def stop(proc, log):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    log.close()
    assert code == 0, f"kiln serve exited with {code} after SIGTERM"


@pytest.fixture(scope="session")
def server():
    if not os.path.exists(MODEL):
        pytest.skip(f"missing {MODEL}")
    url, proc, log = launch(MODEL, "kiln-e2e-server.log",
                            ["--max-total-tokens", "512", "--max-batch-size", "64", "--kv-cache-memory", "256MiB",
                             "--served-model-name", "smollm2"])
    try:
        wait_healthy(url)
        yield {"url": url, "proc": proc}
    finally:
        stop(proc, log)


QWEN = os.environ.get("KILN_QWEN_MODEL", os.path.join(ROOT, "models/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))


@pytest.fixture(scope="session")
def qwen_server():
    """A second server on Qwen2.5, whose chat template defines tool calls."""
    if not os.path.exists(QWEN):
        pytest.skip(f"missing {QWEN}")
    url, proc, log = launch(QWEN, "kiln-e2e-qwen.log",
                            ["--max-total-tokens", "2048", "--kv-cache-memory", "128MiB",
                             "--served-model-name", "qwen2.5"])
    try:
        wait_healthy(url)
        yield {"url": url, "proc": proc}
    finally:
        stop(proc, log)
