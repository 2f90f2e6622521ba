# The README's two commands: `make demo` and `make test`. Both set up first (skipped when done).
VENV := .venv
PY := $(VENV)/bin/python
# Every process that starts ROS here stays on localhost, on a private domain, with a temp ROS_HOME.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= $(shell echo $$(( $$$$ % 80 + 10 )))
export ROS_HOME ?= $(shell mktemp -d /tmp/vla_ros_home.XXXXXX)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MUJOCO_GL ?= egl
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/vla demo --robot arm --headless

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/vla bench sim
	$(VENV)/bin/vla bench wbc
	$(VENV)/bin/vla bench planner

clean:
	rm -rf build install log .setup-stamps
