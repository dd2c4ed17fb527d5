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


def launch(*extra, model=MODEL, log_name="kiln-e2e-server.log"):
    """Starts `kiln serve` on `model` with extra flags and waits until it is healthy; returns (process, url, log)."""
    if not os.path.exists(model):
        pytest.skip(f"missing {model}")
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), log_name), "w")
    proc = subprocess.Popen(
        [BINARY, "serve", "--model", model, "--hostname", "127.0.0.1", "--port", str(port), *extra],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
    except Exception:
        proc.kill()
        log.close()
        raise
    return proc, url, log


def stop(proc, log):
    """SIGTERM, then the exit code (None if it had to be killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    log.close()
    return code


SMALL_SERVER = ["--max-total-tokens", "512", "--max-batch-size", "64", "--kv-cache-memory", "256MiB"]


@pytest.fixture(scope="session")
def server():
    proc, url, log = launch(*SMALL_SERVER, "--served-model-name", "smollm2")
    code = None
    try:
        yield {"url": url, "proc": proc}
    finally:
        code = stop(proc, log)
    assert code == 0, f"kiln serve exited with {code} after SIGTERM"


QWEN = os.environ.get("KILN_QWEN_MODEL", os.path.join(ROOT, "models/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))


@pytest.fixture(scope="session")
def qwen_server():
    """A second server on Qwen2.5, whose chat template defines tool calls."""
    proc, url, log = launch("--max-total-tokens", "2048", "--kv-cache-memory", "128MiB",
                            "--served-model-name", "qwen2.5", model=QWEN, log_name="kiln-e2e-qwen.log")
    code = None
    try:
        yield {"url": url, "proc": proc}
    finally:
        code = stop(proc, log)
    assert code == 0, f"kiln serve exited with {code} after SIGTERM"
