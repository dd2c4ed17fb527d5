"""Connection and process lifecycle: clients that vanish, connections that stall, and SIGTERM with work in flight."""
import json
import re
import signal
import socket
import time
import urllib.request

from conftest import SMALL_SERVER, launch, stop

COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def raw_request(port, path, body):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = json.dumps(body).encode()
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_disconnect_cancels_a_non_streaming_request(server):
    url = server["url"]
    port = int(url.rsplit(":", 1)[1])
    before = metrics(url)
    sock = raw_request(port, "/generate", {"inputs": COUNTING, "parameters": {"max_new_tokens": 450}})
    assert wait_for(lambda: metrics(url).get("kiln_kv_blocks_in_use", 0) > 0, 30), "the request was never scheduled"
    sock.close()
    assert wait_for(lambda: metrics(url).get("kiln_kv_blocks_in_use", 1) == 0, 10), "KV blocks still held"
    after = metrics(url)
    dropped = 'tgi_request_failure{err="dropped"}'
    assert after.get(dropped, 0) == before.get(dropped, 0) + 1
    assert after.get("tgi_request_success", 0) == before.get("tgi_request_success", 0)
    # The server still answers, and a non-streaming reply on a live connection arrives whole.
    req = urllib.request.Request(url + "/generate", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}}).encode())
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200 and "generated_text" in json.loads(r.read())


def test_stalled_connection_is_closed_and_sigterm_finishes_in_flight_work():
    proc, url, log = launch(*SMALL_SERVER, "--idle-timeout", "2", log_name="kiln-e2e-lifecycle.log")
    port = int(url.rsplit(":", 1)[1])
    code = "not stopped"
    try:
        # A sender that stops mid-body is disconnected after the idle timeout.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=15)
        stalled.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"inp")
        started = time.time()
        try:
            closed = stalled.recv(1024) == b""
        except ConnectionResetError:
            closed = True
        assert closed and time.time() - started < 10
        stalled.close()

        # SIGTERM while a stream is running: the stream still ends with its final event, then the process exits 0.
        sock = raw_request(port, "/generate_stream", {"inputs": COUNTING, "parameters": {"max_new_tokens": 80}})
        reader = sock.makefile("rb")
        events = []
        while not events:
            line = reader.readline()
            assert line, "stream closed before its first event"
            if line.startswith(b"data:"):
                events.append(json.loads(line[5:]))
        proc.send_signal(signal.SIGTERM)
        for line in reader:
            if line.startswith(b"data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("generated_text") is not None:
                    break
        sock.close()
        final = events[-1]
        assert "error" not in final, final
        assert final["details"]["generated_tokens"] == len(events)
        code = proc.wait(timeout=60)
        assert code == 0
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            accepting = True
        except OSError:
            accepting = False
        assert not accepting, "the port still accepts connections after exit"
    finally:
        if proc.poll() is None:
            stop(proc, log)
        else:
            log.close()
