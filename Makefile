# Kiln's build and test entry points. `make run` is the quick start; `make test` is what CI runs.
#
# Release builds name a target CPU: without one Swift targets baseline x86-64 and every SIMD FMA becomes a library
# call (12x slower). znver4 covers Zen 4/5; use CPU=skylake-avx512 on Intel AVX-512 or CPU=haswell on AVX2-only
# machines. C kernels choose their instructions at run time, whatever CPU is named here.
CPU ?= znver4
SWIFT_FLAGS = -c release -Xswiftc -target-cpu -Xswiftc $(CPU)
MODEL ?= models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
PROMPT ?= <|im_start|>user\nWrite a haiku about a kiln.<|im_end|>\n<|im_start|>assistant\n

.PHONY: setup release run models reference test test-swift clean

setup:
	scripts/setup.sh

release:
	swift build $(SWIFT_FLAGS) --product kiln

models:
	scripts/fetch_models.sh smollm2 gemma3 qwen2.5

# Hugging Face directories converted by transformers from the GGUF files (the safetensors path's test data),
# and the tokenizer test vocabularies (models/vocabs).
reference: models
	scripts/reference/setup.sh
	scripts/reference/convert.sh smollm2 gemma3 qwen2.5
	scripts/fetch_tokenizer_vocabs.sh

# Quick start: install, build, and generate text with the default model.
run: setup release
	scripts/fetch_models.sh smollm2
	.build/release/kiln generate --model $(MODEL) --prompt "$$(printf '$(PROMPT)')" --max-new-tokens 64

test: setup reference
	KILN_REQUIRE_MODELS=1 $(MAKE) test-swift

test-swift:
	swift build $(SWIFT_FLAGS) --product kiln
	swift test $(SWIFT_FLAGS) --disable-testable-imports --no-parallel

clean:
	rm -rf .build
