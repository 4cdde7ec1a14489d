# frontdesk — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PLAN   ?= daemon/frontdesk/examples/lakeside.yaml

.PHONY: run test bench lint typecheck unit clean faults lab lab-golive

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: check the plan, then the demo (frontdesk on an embedded Asterisk emulator)
run: $(STAMP)
	$(BIN)/frontdesk check $(PLAN)
	FRONTDESK_PLAN=$(PLAN) $(BIN)/frontdesk run

## test: lint, format check, strict typing, then the test suite
test: lint typecheck unit

## bench: figures, not assertions (not part of `make test`)
bench: $(STAMP)
	$(BIN)/python bench/acd_bench.py
	$(BIN)/python bench/load.py $(BENCH_ARGS)

## bench-lab: frontdesk and the bare ARI app (bench/bare_ari.py) one after the other on the
## lab's real Asterisk 22 with the same SIPp journey (answer, prompt, key, queue, an agent
## answers after 1.5 s, 2 s talk); rates step up until calls fail. Prints the table and
## writes bench/results/lab.json (docs/bench.md, "bench-lab"); about 15 minutes. Waits
## while another Asterisk (`make lab`) runs. Without FRONTDESK_LAB_PREFIX: skipped, exit 0.
.PHONY: bench-lab
bench-lab: $(STAMP)
	@if [ -z "$$FRONTDESK_LAB_PREFIX" ] || [ ! -x "$$FRONTDESK_LAB_PREFIX/sbin/asterisk" ]; then \
		echo "make bench-lab: skipped: no Asterisk build (set FRONTDESK_LAB_PREFIX to the"; \
		echo "  prefix shared/asterisk/real/build.sh installed into; see docs/real-asterisk.md)"; \
	else $(BIN)/python bench/lab_bench.py $(BENCH_LAB_ARGS); fi

## faults: the fault suite on real processes (kill -9, SIGTERM, PostgreSQL stopped 30 s,
## an Asterisk restart, AMI cut or half-open, a stalled ARI response, two daemons;
## docs/faults.md). Not part of `make test`: it takes about 1.5 minutes.
faults: $(STAMP)
	$(BIN)/ruff check faults
	$(BIN)/ruff format --check faults
	$(BIN)/mypy --strict faults
	$(BIN)/pytest -q faults

## lab: the lab tier against a real Asterisk 22 (docs/real-asterisk.md, "Test it on a real
## Asterisk"): FRONTDESK_LAB_PREFIX names the build's prefix. Without it: skipped, exit 0.
lab: $(STAMP)
	@if [ -z "$$FRONTDESK_LAB_PREFIX" ] || [ ! -x "$$FRONTDESK_LAB_PREFIX/sbin/asterisk" ]; then \
		echo "make lab: skipped: no Asterisk build (set FRONTDESK_LAB_PREFIX to the prefix"; \
		echo "  shared/asterisk/real/build.sh installed into; see docs/real-asterisk.md)"; \
	else $(BIN)/pytest -v -p no:cacheprovider lab; fi

## lab-golive: the example plan's go-live run on the real Asterisk (every case, 10 side
## by side), then `frontdesk golive verify`'s table. Without FRONTDESK_LAB_PREFIX: skipped.
lab-golive: $(STAMP)
	$(BIN)/python -m lab.golive_run $(GOLIVE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check daemon tests bench lab
	$(BIN)/ruff format --check daemon tests bench lab

typecheck: $(STAMP)
	$(BIN)/mypy --strict daemon/ lab/

unit: $(STAMP)
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
