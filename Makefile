# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# `make run HOST=0.0.0.0 PORT=9000` overrides; otherwise rnnlab serve reads RNNLAB_HOST / RNNLAB_PORT
# (default 127.0.0.1:8000). Not taken from the environment's HOST, which some shells set to the host name.
HOST    =
PORT    =

.PHONY: run test bench lint chromium clean

# The stamps re-install when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(VENV)/bin/rnnlab serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# A Chromium for the browser tests: $$CHROMIUM or /usr/bin/chromium if present; Debian's package when
# root on a Debian machine; otherwise Playwright's own download.
chromium: $(VENV)/.installed-test
	@if [ -n "$$CHROMIUM" ] && [ -x "$$CHROMIUM" ]; then echo "chromium: $$CHROMIUM"; \
	elif [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "chromium: installing Debian's package"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	else $(PY) -m playwright install chromium; fi

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

test: $(VENV)/.installed-test chromium lint
	$(PY) -m pytest

bench: $(VENV)/.installed-test
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
