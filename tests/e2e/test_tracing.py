"""OpenTelemetry tracing of `kiln serve` (built with `--traits OTel`), against an OTLP/HTTP receiver started here.

The receiver accepts POST /v1/traces in OTLP's JSON encoding (the server is asked for it with
OTEL_EXPORTER_OTLP_PROTOCOL=http/json). A request carrying a W3C traceparent must produce a root span named after
the route, in the caller's trace and with the caller's span as parent, and children validation, queue, prefill and
decode whose parent is the root and whose times nest inside it in that order."""
import base64
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BINARY, MODEL, free_port, wait_healthy

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def built_with_tracing():
    run = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True)
    return "--otlp-endpoint" in run.stdout


def hex_id(value):
    """OTLP/JSON ids are hex; a protobuf-JSON encoder may write them as base64 instead."""
    if not value:
        return ""
    if all(c in "0123456789abcdefABCDEF" for c in value) and len(value) in (16, 32):
        return value.lower()
    return base64.b64decode(value).hex()


class Receiver(BaseHTTPRequestHandler):
    spans = []
    paths = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.paths.append((self.path, self.headers.get("Content-Type")))
            if self.path == "/v1/traces":
                doc = json.loads(body)
                for rs in doc.get("resourceSpans", doc.get("resource_spans", [])):
                    for ss in rs.get("scopeSpans", rs.get("scope_spans", [])):
                        Receiver.spans.extend(ss.get("spans", []))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def field(span, camel, snake):
    return span.get(camel, span.get(snake))


@pytest.fixture(scope="module")
def traced():
    if not os.path.exists(MODEL):
        pytest.skip(f"missing {MODEL}")
    if not built_with_tracing():
        if os.environ.get("KILN_REQUIRE_TRACING") == "1":
            pytest.fail(f"{BINARY} was built without the OTel trait")
        pytest.skip("kiln was built without `--traits OTel`")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    env = dict(os.environ, OTEL_EXPORTER_OTLP_PROTOCOL="http/json", OTEL_BSP_SCHEDULE_DELAY="100",
               OTEL_SERVICE_NAME="kiln-e2e")
    log = open(os.path.join(tempfile.gettempdir(), "kiln-e2e-tracing.log"), "w")
    proc = subprocess.Popen(
        [BINARY, "serve", "--model", MODEL, "--hostname", "127.0.0.1", "--port", str(port), "--max-total-tokens",
         "512", "--kv-cache-memory", "64MiB", "--otlp-endpoint", f"http://127.0.0.1:{receiver.server_address[1]}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        receiver.shutdown()


def post(url, path, body, headers):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=120) as r:
        return r.read()


def spans_of(trace_id, count, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with Receiver.lock:
            found = [s for s in Receiver.spans if hex_id(field(s, "traceId", "trace_id")) == trace_id]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    with Receiver.lock:
        raise AssertionError(f"spans of {trace_id} did not arrive: {found}; posts: {Receiver.paths}")


TGI_BODY = {"inputs": "The kiln was", "parameters": {"max_new_tokens": 5}}
CHAT_BODY = {"messages": [{"role": "user", "content": "The kiln was"}], "max_tokens": 5}
COMPLETION_BODY = {"prompt": "The kiln was", "max_tokens": 5}


@pytest.mark.parametrize("route,body,root_name,trace_id", [
    ("/generate_stream", TGI_BODY, "generate_stream", CALLER_TRACE),
    ("/generate", TGI_BODY, "generate", "0af7651916cd43dd8448eb211c80319c"),
    ("/v1/chat/completions", CHAT_BODY, "chat_completions", "1af7651916cd43dd8448eb211c80319c"),
    ("/v1/chat/completions", {**CHAT_BODY, "stream": True}, "chat_completions", "2af7651916cd43dd8448eb211c80319c"),
    ("/v1/completions", {**COMPLETION_BODY, "n": 2, "temperature": 0.7, "seed": 3}, "completions",
     "3af7651916cd43dd8448eb211c80319c"),
    ("/v1/completions", {**COMPLETION_BODY, "stream": True}, "completions", "4af7651916cd43dd8448eb211c80319c"),
])
def test_request_spans_continue_the_callers_trace(traced, route, body, root_name, trace_id):
    traceparent = f"00-{trace_id}-{CALLER_SPAN}-01"
    post(traced, route, body, {"traceparent": traceparent})
    spans = spans_of(trace_id, 5)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {root_name, "validation", "queue", "prefill", "decode"}, [s["name"] for s in spans]
    root = by_name[root_name]
    assert hex_id(field(root, "parentSpanId", "parent_span_id")) == CALLER_SPAN
    root_id = hex_id(field(root, "spanId", "span_id"))

    def times(s):
        return int(field(s, "startTimeUnixNano", "start_time_unix_nano")), int(field(s, "endTimeUnixNano", "end_time_unix_nano"))

    root_start, root_end = times(root)
    previous_end = root_start
    for name in ("validation", "queue", "prefill", "decode"):
        child = by_name[name]
        assert hex_id(field(child, "parentSpanId", "parent_span_id")) == root_id, name
        start, end = times(child)
        assert root_start <= start <= end <= root_end, name
        # Phases follow each other (within a millisecond of clock rounding).
        assert start >= previous_end - 1_000_000, name
        previous_end = end
    assert all(path == "/v1/traces" for path, _ in Receiver.paths)
    assert any("json" in (kind or "") for _, kind in Receiver.paths)


@pytest.mark.parametrize("route,body,root_name", [
    ("/v1/chat/completions", {**CHAT_BODY, "temperature": 5}, "chat_completions"),
    ("/v1/completions", {**COMPLETION_BODY, "max_tokens": 0}, "completions"),
])
def test_a_rejected_openai_request_is_traced_as_an_error(traced, route, body, root_name):
    trace_id = "5af7651916cd43dd8448eb211c8031" + ("9c" if root_name == "completions" else "9d")
    with pytest.raises(urllib.error.HTTPError) as failure:
        post(traced, route, body, {"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"})
    assert failure.value.code == 400
    spans = spans_of(trace_id, 2)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {root_name, "validation"}, [s["name"] for s in spans]
    status = by_name[root_name].get("status", {})
    assert status.get("code") in (2, "STATUS_CODE_ERROR"), status
    assert hex_id(field(by_name["validation"], "parentSpanId", "parent_span_id")) == hex_id(
        field(by_name[root_name], "spanId", "span_id"))


def test_request_without_traceparent_starts_a_new_trace(traced):
    with Receiver.lock:
        before = len(Receiver.spans)
    post(traced, "/generate", {"inputs": "Hello", "parameters": {"max_new_tokens": 2}}, {})
    deadline = time.time() + 30
    while time.time() < deadline:
        with Receiver.lock:
            roots = [s for s in Receiver.spans[before:] if s["name"] == "generate"]
        if roots:
            break
        time.sleep(0.2)
    assert roots, "no root span arrived"
    assert not hex_id(field(roots[0], "parentSpanId", "parent_span_id"))
    assert hex_id(field(roots[0], "traceId", "trace_id")) not in (CALLER_TRACE, "")
