"""The server's own checks, asked through its command line as an operator would ask them:
`callcenter rules check` for the routing rules a scenario names, `callcenter models verify`
for the Vosk models the demo may give the server. The simulator is a client: it runs the
server's commands rather than importing the code behind them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from callcenter.simulate.server_command import CALLCENTER

CHECK_SECONDS = 120.0


def _run(*arguments: str) -> subprocess.CompletedProcess[str] | str:
    """The finished command, or why it could not run."""
    try:
        return subprocess.run(
            [*CALLCENTER, *arguments],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=CHECK_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)


def rules_problems(location: Path) -> list[str]:
    """What `callcenter rules check` finds wrong with a rule file or directory, each
    "file:line: message"; [] when it accepts them."""
    done = _run("rules", "check", str(location))
    if isinstance(done, str):
        return [f"{location}:1: cannot check the rules: {done}"]
    if done.returncode == 0:
        return []
    problems = [line for line in done.stderr.splitlines() if line.strip()]
    return problems or [f"{location}:1: `callcenter rules check` exited with {done.returncode}"]


def is_vosk_model(path: Path) -> bool:
    """Whether `callcenter models verify` finds a complete Vosk model in `path`."""
    done = _run("models", "verify", str(path))
    return not isinstance(done, str) and done.returncode == 0


def english_vosk_model(models_dir: Path) -> str | None:
    """The name of the first complete English model pulled into `models_dir` (hidden work
    directories skipped), if there is one."""
    if not models_dir.is_dir():
        return None
    candidates = sorted(
        path
        for path in models_dir.iterdir()
        if not path.name.startswith(".") and path.is_dir() and "-en-" in path.name
    )
    return next((path.name for path in candidates if is_vosk_model(path)), None)
