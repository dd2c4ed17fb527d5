"""Tensor and pipeline parallelism through `mpirun -np 2 kiln serve --tensor-parallel 2` (or `--pipeline-parallel 2`):
greedy outputs equal one process's on the golden prompts, and a worker killed mid-request fails the request and
/health without hanging anything.

Skipped (with the reason) when mpirun is missing or this kiln was built without the MPI trait; KILN_REQUIRE_MPI=1
(set by `make test`) turns those skips into failures."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import BINARY, MODEL, ROOT, free_port, launch, stop, wait_healthy

MPIRUN = shutil.which("mpirun")
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
LIMITS = ["--max-total-tokens", "2048", "--kv-cache-memory", "128MiB", "--threads", "1"]


def require_mpi():
    reason = None
    if MPIRUN is None:
        reason = "mpirun is missing (apt-get install openmpi-bin)"
    else:
        out = subprocess.run([BINARY, "parallel-check"], capture_output=True, text=True, timeout=120, env=MPI_ENV)
        if '"mpi": false' in out.stdout or '"mpi":false' in out.stdout:
            reason = "this kiln was built without the MPI trait (swift build --traits MPI)"
    if reason:
        if os.environ.get("KILN_REQUIRE_MPI"):
            pytest.fail(reason)
        pytest.skip(reason)


# mode: (ranks, flags); "tensor-pipeline" is TP=2 × PP=2 (each of two stages split over two ranks).
PARALLEL = {
    "tensor": (2, ["--tensor-parallel", "2"]),
    "pipeline": (2, ["--pipeline-parallel", "2"]),
    "tensor-pipeline": (4, ["--tensor-parallel", "2", "--pipeline-parallel", "2"]),
}


def launch_tp(*extra, model=MODEL, log_name="kiln-e2e-tp.log", mode="tensor"):
    """`mpirun --enable-recovery -np 2 kiln serve --tensor-parallel 2 …` (or --pipeline-parallel 2; recovery: a dead
    worker must not take rank 0 down with it, so rank 0 can report it); returns (process, url, log)."""
    require_mpi()
    if not os.path.exists(model):
        pytest.skip(f"missing {model}")
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), log_name), "w")
    proc = subprocess.Popen(
        [MPIRUN, "--enable-recovery", "--oversubscribe", "-np", str(PARALLEL[mode][0]), BINARY, "serve",
         *PARALLEL[mode][1], "--model", model,
         "--hostname", "127.0.0.1", "--port", str(port), *extra],
        stdout=log, stderr=subprocess.STDOUT, env=MPI_ENV, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=300)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        raise
    return proc, url, log


def stop_tp(proc, log):
    """SIGTERM to mpirun (it forwards it to the ranks); the exit code, or None when the job had to be killed."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = None
    log.close()
    return code


def generate(url, text, tokens=32, timeout=300):
    body = {"inputs": text, "parameters": {"max_new_tokens": tokens, "details": True, "top_n_tokens": 2}}
    req = urllib.request.Request(url + "/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)["details"]


def smollm2_prompts():
    with open(os.path.join(ROOT, "Tests/goldens/prompts.json")) as f:
        return [p for p in json.load(f) if "smollm2" in p.get("models", ["smollm2"])]


def build_rank_files(mode, directory):
    """`kiln build --tp 2 [--pp 2]` into `directory`: rank 0's file (every rank finds its own from it)."""
    ranks, flags = PARALLEL[mode]
    tp = flags[flags.index("--tensor-parallel") + 1]
    pp = flags[flags.index("--pipeline-parallel") + 1] if "--pipeline-parallel" in flags else "1"
    output = os.path.join(directory, "model.kiln")
    subprocess.run([BINARY, "build", "-m", MODEL, "-o", output, "--tp", tp, "--pp", pp], check=True,
                   capture_output=True, timeout=600)
    return os.path.join(directory, f"model.rank0-of-{ranks}.kiln")


@pytest.mark.parametrize("mode,files", [("tensor", False), ("tensor-pipeline", False), ("tensor", True),
                                        ("tensor-pipeline", True)])
def test_tensor_parallel_greedy_equals_one_process(mode, files, tmp_path):
    """files: each rank maps only its own file of a `kiln build --tp 2 [--pp 2]` instead of slicing the GGUF."""
    require_mpi()
    model = build_rank_files(mode, str(tmp_path)) if files else MODEL
    tp, tp_url, tp_log = launch_tp(*LIMITS, model=model, mode=mode, log_name=f"kiln-e2e-{mode}-{files}.log")
    try:
        one, one_url, one_log = launch(*LIMITS, log_name="kiln-e2e-tp-reference.log")
        try:
            for prompt in smollm2_prompts():
                expected = generate(one_url, prompt["text"])
                got = generate(tp_url, prompt["text"])
                want = [t["id"] for t in expected["tokens"]]
                have = [t["id"] for t in got["tokens"]]
                if want != have:
                    i = next(i for i, (a, b) in enumerate(zip(want + [-1], have + [-1])) if a != b)
                    top = expected["top_tokens"][i]
                    margin = top[0]["logprob"] - top[1]["logprob"]
                    print(f"{prompt['name']}: first difference at token {i}, one-process top-2 margin {margin}")
                    # 8-bit activations turn the all-reduce's last-bit differences into rounding flips that
                    # compound over the layers (ParallelTests shows exact equality with float32 activations):
                    # only near-ties may flip (seen: margins 0.014-0.104).
                    assert margin < 0.25, f"{prompt['name']}: token {i} differs ({want[i]} vs {have[i]}), margin {margin}"
        finally:
            assert stop(one, one_log) == 0
    finally:
        stop_tp(tp, tp_log)


def test_pipeline_parallel_greedy_equals_one_process():
    """Two stages of 15 layers: no layer's arithmetic changes, so every token is equal (no near-tie allowance), and
    concurrent requests share steps whose rows are cut into micro-batches."""
    pp, pp_url, pp_log = launch_tp(*LIMITS, mode="pipeline", log_name="kiln-e2e-pp.log")
    try:
        one, one_url, one_log = launch(*LIMITS, log_name="kiln-e2e-pp-reference.log")
        try:
            prompts = smollm2_prompts()
            expected = {p["name"]: [t["id"] for t in generate(one_url, p["text"])["tokens"]] for p in prompts}
            got = {}

            def run(p):
                got[p["name"]] = [t["id"] for t in generate(pp_url, p["text"])["tokens"]]

            # One at a time, then all at once (ragged steps of several sequences through the stages).
            for p in prompts:
                run(p)
                assert got[p["name"]] == expected[p["name"]], p["name"]
            got.clear()
            threads = [threading.Thread(target=run, args=(p,)) for p in prompts]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            for p in prompts:
                assert got.get(p["name"]) == expected[p["name"]], f"{p['name']} (concurrent)"
        finally:
            assert stop(one, one_log) == 0
    finally:
        stop_tp(pp, pp_log)


def rank_pid(mpirun_pid, rank):
    """The pid of `rank` among mpirun's children (from OMPI_COMM_WORLD_RANK in their environment)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != mpirun_pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(entry)
        except (OSError, IndexError, ValueError):
            continue
    return None


@pytest.mark.parametrize("mode", ["tensor", "pipeline"])
def test_killed_worker_fails_the_request_and_health(mode):
    proc, url, log = launch_tp(*LIMITS, "--rank-timeout", "5", log_name=f"kiln-e2e-{mode}-kill.log", mode=mode)
    try:
        worker = rank_pid(proc.pid, 1)
        assert worker, "rank 1 not found among mpirun's children"
        result = {}

        def request():
            start = time.time()
            try:
                generate(url, "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", tokens=1500, timeout=120)
                result["outcome"] = "finished"
            except urllib.error.HTTPError as e:
                result["outcome"] = f"HTTP {e.code}: {e.read().decode()}"
            except Exception as e:  # noqa: BLE001 - any error counts, hanging does not
                result["outcome"] = f"error: {e}"
            result["seconds"] = time.time() - start

        thread = threading.Thread(target=request)
        thread.start()
        time.sleep(3)  # decoding by now
        os.kill(worker, signal.SIGKILL)
        killed = time.time()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the request hung after the worker died"
        print("request:", result, f"ended {time.time() - killed:.1f} s after the kill")
        assert result["outcome"].startswith("HTTP 5") or result["outcome"].startswith("HTTP 4"), result
        assert "did not complete within 5" in result["outcome"] or mode in result["outcome"], result

        deadline = time.time() + 15
        status = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            if status == 503:
                break
            time.sleep(0.2)
        assert status == 503, f"/health answered {status} after the worker died"

        # A new request fails at once with a clear message instead of waiting for the dead rank.
        start = time.time()
        with pytest.raises(urllib.error.HTTPError) as failed:
            generate(url, "Hello", tokens=4, timeout=30)
        body = failed.value.read().decode()
        assert failed.value.code in (424, 503), body
        assert f"{mode}-parallel" in body or "failed" in body, body
        assert time.time() - start < 5
    finally:
        assert stop_tp(proc, log) is not None, "the job did not end after SIGTERM"
