"""Start a stack's nodes as separate processes (what `ros2 launch` does, for machines without it).

Each node runs `python -m <module> --ros-args -r __node:=<name> --params-file <file>`, logs to
`<log_dir>/<name>.log`, and is stopped with SIGINT first so it can shut down cleanly.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from vla_bringup.specs import NodeSpec, params_file_content


class StackProcesses:
    def __init__(self, specs: list[NodeSpec], log_dir: Path, env: dict[str, str] | None = None):
        self.specs = specs
        self.log_dir = Path(log_dir)
        self.env = dict(os.environ if env is None else env)
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        missing = [f"{s.name} ({s.module})" for s in self.specs
                   if importlib.util.find_spec(s.module) is None]
        if missing:  # say so now, not as a dead process after a start-up timeout
            raise ValueError(f"nodes not available in this install: {', '.join(missing)}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        params_path = self.log_dir / "params.yaml"
        params_path.write_text(yaml.safe_dump(params_file_content(self.specs)))
        for spec in self.specs:
            cmd = [sys.executable, "-u", "-m", spec.module, "--ros-args",
                   "-r", f"__node:={spec.name}", "--params-file", str(params_path)]
            if spec.namespace:
                cmd += ["-r", f"__ns:=/{spec.namespace}"]
            for src, dst in spec.remappings:
                cmd += ["-r", f"{src}:={dst}"]
            log = open(self.log_dir / f"{spec.name}.log", "w")  # noqa: SIM115 - owned by Popen
            self.processes[spec.name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
            log.close()

    def dead(self) -> dict[str, int]:
        """Nodes that have exited, with their exit codes."""
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> "StackProcesses":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
