# Engram developer entry points. The README's two commands are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch unless told otherwise (e.g. `make install TORCH=torch==2.13.0+cu128 ...`).
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install run demo test test-fast lint bench bench-quality bench-sql-ablation bench-sql-grounding bench-mome bench-mome-report demo-db screenshot-experts package clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install  ## the main job: the desktop app on the bundled demo database and model
	$(BIN)/python -m app.bootstrap

demo: install  ## headless tour of the demo database and bundled model
	$(BIN)/engram demo

lint: install  ## the architecture contract: engine/ and app/ never import Qt (import-linter)
	$(BIN)/lint-imports

test: lint  ## the whole test suite, plus the architecture contract
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-fast: lint  ## unit tests and the UI tests that need no training (a few minutes): the loop while working
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow" -q

demo-db: install  ## regenerate resources/demo/{lumen,kestrel}.{sqlite,duckdb}
	$(BIN)/python scripts/make_demo_db.py
	$(BIN)/python scripts/make_kestrel_db.py

bench: install  ## the benchmarks that take minutes (memory experts scaling: bench-mome; one of its experts alone: bench/bench_expert_alone.py)
	for f in bench/bench_*.py; do case $$f in *mome_scaling.py|*expert_alone.py|*quality.py) continue;; esac; $(BIN)/python $$f || exit 1; done

bench-quality: install  ## held-out analyst questions (evals/) on both demo databases: generate → tune (12 min) → export q8_0 → base vs tuned by execution, per construct (under an hour on 2 cores)
	$(BIN)/python bench/bench_quality.py --out docs/benchmarks

bench-sql-ablation: install  ## after bench-quality: its tuned models answer every held-out question with each part of SQL answering off in turn (about 30 minutes per database on 2 cores)
	$(BIN)/python bench/bench_quality.py --resume --ablation-questions 1000 --out docs/benchmarks

bench-sql-grounding: install  ## how often table selection shows every table a held-out question needs, and prompt sizes (2 minutes)
	$(BIN)/python bench/bench_sql_grounding.py --out docs/benchmarks

bench-mome: install  ## memory experts vs one adapter at 100/1,000/5,000 facts, each trained to full recall (no time budget; the one adapter stops at the experts' optimizer steps: the same compute): hours; meant for a GPU. Goes on where it stopped (.bench-work/; on a new machine from bench/results/mome-scaling/, committed after each sitting); STOP_AFTER=MIN ends a sitting
	$(BIN)/python bench/bench_mome_scaling.py --sizes 100 1000 5000 --minutes 0 --new 100 --work .bench-work/mome --record bench/results/mome-scaling \
		--out docs/benchmarks $(if $(STOP_AFTER),--stop-after $(STOP_AFTER))

bench-mome-report: install  ## redraw docs/benchmarks/mome-scaling.{md,json,png} from bench/results/mome-scaling/ (no training; a point not finished shows as far as it got)
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/bench_mome_scaling.py --sizes 100 1000 5000 --minutes 0 --new 100 --work .bench-work/mome \
		--record bench/results/mome-scaling --out docs/benchmarks --report-only

screenshot-experts: install  ## docs/images/chat-experts.png (trains 3 small experts: minutes); the others: scripts/screenshots.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/screenshot_chat_experts.py

package: install  ## desktop bundle in dist/ (PyInstaller), checked offline with --self-test
	$(BIN)/pip install -q "pyinstaller>=6.10"
	BIN=$(BIN) bash packaging/build.sh

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
