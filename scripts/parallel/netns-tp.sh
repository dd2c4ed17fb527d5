#!/usr/bin/env bash
# Tensor parallelism across two "hosts": two network namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2,
# each with its own hostname), one MPI rank in each, talking over TCP only. Runs `kiln parallel-check`, which
# decodes the golden prompts greedily with the whole model on rank 0 and with TP=2 across the namespaces, with
# float32 activations, and checks that every token is equal (with 8-bit activations near-ties may flip; see
# Tests/KilnCLITests/ParallelTests.swift). The veth's byte counters show the traffic went over the link.
#
#   scripts/parallel/netns-tp.sh [path/to/kiln] [model] [golden]
#
# Needs root (ip netns), iproute2, util-linux (unshare) and mpirun; prints "SKIP: …" and exits 0 without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KILN=$(realpath "${1:-.build/release/kiln}")
MODEL=$(realpath "${2:-models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}")
GOLDEN=$(realpath "${3:-Tests/goldens/smollm2.json}")
REQUIRE=${KILN_REQUIRE_MPI:-}

skip() {
    if [ -n "$REQUIRE" ]; then echo "FAIL: $1" >&2; exit 1; fi
    echo "SKIP: $1"; exit 0
}
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "iproute2 (ip) is missing"
command -v unshare >/dev/null || skip "unshare is missing"
command -v mpirun >/dev/null || skip "mpirun is missing (apt-get install openmpi-bin)"
[ -x "$KILN" ] || skip "no kiln binary at $KILN"
[ -f "$MODEL" ] || skip "missing $MODEL"
if "$KILN" parallel-check 2>/dev/null | grep -q '"mpi": *false'; then skip "$KILN was built without the MPI trait"; fi

A=kiln-tp-a; B=kiln-tp-b
WORK=$(mktemp -d)
cleanup() {
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup; WORK=$(mktemp -d)
ip netns add $A
ip netns add $B
ip link add kiln-tp-va type veth peer name kiln-tp-vb
ip link set kiln-tp-va netns $A
ip link set kiln-tp-vb netns $B
ip -n $A addr add 10.77.0.1/24 dev kiln-tp-va
ip -n $B addr add 10.77.0.2/24 dev kiln-tp-vb
for ns in $A $B; do
    ip -n $ns link set lo up
done
ip -n $A link set kiln-tp-va up
ip -n $B link set kiln-tp-vb up

# mpirun starts its remote daemon through an "ssh" agent: this one enters the namespace that owns the address.
cat > "$WORK/agent.sh" <<AGENT
#!/bin/sh
host="\$1"; shift
case "\$host" in 10.77.0.1) ns=$A ;; 10.77.0.2) ns=$B ;; *) echo "unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$ns; \$*"
AGENT
chmod +x "$WORK/agent.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$WORK/hosts"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
set +e
ip netns exec $A unshare --uts sh -c "hostname $A; exec mpirun -np 2 --hostfile $WORK/hosts --map-by node \
    --mca plm_rsh_agent $WORK/agent.sh --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
    --mca oob_tcp_if_include 10.77.0.0/24 \
    $KILN parallel-check --model $MODEL --golden $GOLDEN --tokens 32 --precision reference" > "$WORK/out" 2> "$WORK/err"
status=$?
set -e
cat "$WORK/err" >&2
[ $status -eq 0 ] || { cat "$WORK/out"; echo "FAIL: mpirun exited with $status" >&2; exit 1; }
echo "veth traffic (namespace $A): $(ip -n $A -s link show kiln-tp-va | awk '/RX:/{getline; rx=$1} /TX:/{getline; tx=$1} END{print "rx " rx " bytes, tx " tx " bytes"}')"
python3 - "$WORK/out" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
records = [json.loads(l) for l in lines if l.strip().startswith("{")]
hosts = [r for r in records if "layout" in r]
prompts = [r for r in records if "prompt" in r]
assert hosts and prompts, f"no results: {lines}"
bad = []
for p in prompts:
    diff = next((i for i, (a, b) in enumerate(zip(p["single"], p["tp"])) if a != b), None)
    if diff is None:
        print(f"{p['prompt']}: {len(p['tp'])} tokens equal")
    else:
        print(f"{p['prompt']}: first difference at token {diff}, single-process top-2 margin {p['margins'][diff]:.5f}")
        bad.append(p["prompt"])
summary = next(r for r in records if r.get("summary"))
print("summary:", json.dumps(summary))
if bad:
    sys.exit(f"FAIL: {bad} differ from one process")
print("PASS: TP=2 across two network namespaces equals one process")
PY
