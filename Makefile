# Kiln's build and test entry points. `make run` is the quick start; `make test` is what CI runs.
#
# Release builds name a target CPU: without one Swift targets baseline x86-64 and every SIMD FMA becomes a library
# call (12x slower). znver4 covers Zen 4/5; use CPU=skylake-avx512 on Intel AVX-512 or CPU=haswell on AVX2-only
# machines. C kernels choose their instructions at run time, whatever CPU is named here.
CPU ?= znver4
SWIFT_FLAGS = -c release -Xswiftc -target-cpu -Xswiftc $(CPU)
MODEL ?= models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
PROMPT ?= <|im_start|>user\nWrite a haiku about a kiln.<|im_end|>\n<|im_start|>assistant\n

.PHONY: setup setup-mpi release run models reference test test-swift e2e test-netns clean

setup:
	scripts/setup.sh

# Open MPI for the MPI trait (tensor parallelism); `make test` builds and runs the MPI tests, `make run` never needs it.
setup-mpi:
	command -v mpirun >/dev/null && pkg-config --exists ompi-c || { SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libopenmpi-dev openmpi-bin; }

# Package traits to build with, e.g. TRAITS=OTel for OpenTelemetry tracing in `kiln serve`, TRAITS=MPI for tensor
# parallelism over Open MPI. `make test` builds with OTel,MPI once for the unit tests and the end-to-end tests (so
# the tracing and MPI tests run); `make run` stays lean.
TRAITS ?=
TRAIT_FLAGS = $(if $(TRAITS),--traits $(TRAITS))

release:
	swift build $(SWIFT_FLAGS) $(TRAIT_FLAGS) --product kiln

models:
	scripts/fetch_models.sh smollm2 gemma3 qwen2.5

# Hugging Face directories converted by transformers from the GGUF files (the safetensors path's test data),
# and the tokenizer test vocabularies (models/vocabs).
reference: models
	scripts/reference/setup.sh
	scripts/reference/convert.sh smollm2 gemma3 qwen2.5
	scripts/fetch_tokenizer_vocabs.sh

PORT ?= 3000

# Quick start: install, build, and serve the default model with TGI's HTTP API on port $(PORT).
run: setup release
	scripts/fetch_models.sh smollm2
	.build/release/kiln serve --model $(MODEL) --hostname 127.0.0.1 --port $(PORT)

test: setup setup-mpi reference
	KILN_REQUIRE_MODELS=1 KILN_REQUIRE_MPI=1 $(MAKE) test-swift TRAITS=OTel,MPI
	KILN_REQUIRE_TRACING=1 KILN_REQUIRE_MPI=1 $(MAKE) e2e TRAITS=OTel,MPI
	$(MAKE) test-netns TRAITS=OTel,MPI

test-swift:
	swift build $(SWIFT_FLAGS) $(TRAIT_FLAGS) --product kiln
	swift test $(SWIFT_FLAGS) $(TRAIT_FLAGS) --disable-testable-imports --no-parallel
	# The AVX2 kernels must be batch-invariant too: the same suite with the kernels capped at AVX2.
	KILN_ISA=avx2 swift test $(SWIFT_FLAGS) $(TRAIT_FLAGS) --disable-testable-imports --no-parallel --skip-build \
		--filter BatchInvarianceTests

# End-to-end: the release binary serves the default model (and Qwen2.5 for tool calls) to TGI's own Python clients
# and to the openai package; jsonschema checks structured outputs (pinned versions).
E2E_PACKAGES = huggingface_hub==0.36.0 text-generation==0.7.0 openai==2.8.1 pytest==8.4.2 jsonschema==4.25.1 \
	rfc3339-validator==0.1.4
e2e: release
	scripts/fetch_models.sh smollm2 qwen2.5
	test -x .venv-test/bin/python || python3 -m venv .venv-test
	.venv-test/bin/pip install -q $(E2E_PACKAGES)
	.venv-test/bin/python -m pytest -q tests/e2e

# Tensor parallelism across two network namespaces joined by veth (needs root; says SKIP without it).
test-netns: release
	scripts/parallel/netns-tp.sh .build/release/kiln

clean:
	rm -rf .build
