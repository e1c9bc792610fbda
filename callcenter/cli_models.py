"""`callcenter models list | pull | verify`: the official Vosk models, pulled with progress
and checks into the models directory (callcenter/speech/model_store.py does the work)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from callcenter.settings import Settings
from callcenter.speech.model_store import (
    ModelInfo,
    cached_models,
    fetch_model_list,
    find_model,
    missing_files,
    pull_model,
)


def add_models_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser("models", help="Vosk speech models: list, pull, verify")
    models.add_argument(
        "--models-dir", help="where pulled models go (default ~/.cache/callcenter/models)"
    )
    models.add_argument("--model-list-url", help="the model list (default: the official one)")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="models in the list: language, size, installed")
    listing.add_argument("--lang", help="only this language: en-us, or en for every English")
    listing.add_argument("--all", action="store_true", help="include obsolete models")
    pull = actions.add_parser("pull", help="download a model into the models directory")
    pull.add_argument("name", help="a model name from `callcenter models list`")
    verify = actions.add_parser("verify", help="check that a directory holds a Vosk model")
    verify.add_argument("path", type=Path)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1 << 20:
        return f"{size / 1024:.1f} KiB"
    if size < 1 << 30:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / (1 << 30):.1f} GiB"


class _ProgressReport:
    """Download progress on `stream`: a bar redrawn in place on a terminal, else a line per
    5 % (per 10 MiB when the size is unknown)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._shown = -1
        self._open_line = False

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 0
        # redrawn at each percent on a terminal, else a line on entering the next 5 %
        step = (percent if self._tty else percent // 5) if total else done // (10 << 20)
        if step == self._shown:
            return
        self._shown = step
        amount = f"{_human_size(done)} of {_human_size(total)}" if total else _human_size(done)
        if self._tty:
            bar = f"[{'#' * (percent // 4):<25}] {percent:3d}% " if total else ""
            self._stream.write(f"\r{self._label} {bar}{amount}\x1b[K")
            self._open_line = True
        else:
            shown = f"{percent}% " if total else ""
            self._stream.write(f"{self._label}: {shown}{amount}\n")
        self._stream.flush()

    def end(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False


_LIST_HEADINGS = ("NAME", "LANG", "LANGUAGE", "SIZE", "INSTALLED")


def _list_models(
    models: Sequence[ModelInfo], models_dir: Path, lang: str | None, everything: bool
) -> int:
    shown = [m for m in models if (everything or not m.is_obsolete) and _speaks(m, lang)]
    if not shown:
        print(f"callcenter: no models for language {lang!r}", file=sys.stderr)
        return 1
    installed = {path.name for path in cached_models(models_dir)}
    _print_table([_LIST_HEADINGS, *(_list_row(model, installed) for model in shown)])
    return 0


def _speaks(model: ModelInfo, lang: str | None) -> bool:
    """Whether the model is for `lang` (any when None): "en" covers en-us and en-in as
    well as en."""
    wanted = (lang or "").lower()
    return not wanted or f"{model.lang.lower()}-".startswith(f"{wanted}-")


def _list_row(model: ModelInfo, installed: set[str]) -> tuple[str, ...]:
    return (
        model.name + (" (obsolete)" if model.is_obsolete else ""),
        model.lang,
        model.lang_text,
        model.size_text or _human_size(model.size),
        "yes" if model.name in installed else "-",
    )


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _pull(info: ModelInfo, settings: Settings) -> int:
    print(
        f"pulling {info.name} ({info.size_text or _human_size(info.size)}) "
        f"into {settings.models_dir}",
        file=sys.stderr,
    )
    report = _ProgressReport(sys.stderr, info.name)
    # `kill`, `timeout` and service managers send SIGTERM: clean up as for Ctrl-C
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    path: Path | None = None
    try:
        path = pull_model(
            info, settings.models_dir, base_url=settings.model_list_url, progress=report
        )
    except KeyboardInterrupt:
        pass
    finally:
        report.end()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if path is None:
        print("callcenter: pull interrupted, nothing kept", file=sys.stderr)
        return 130
    print(path)
    print(f"use it with CALLCENTER_VOSK_MODEL={info.name}", file=sys.stderr)
    return 0


def _verify(path: Path) -> int:
    if not path.is_dir():
        print(f"{path}: not a directory", file=sys.stderr)
        return 1
    missing = missing_files(path)
    for item in missing:
        print(f"{path}: missing {item}", file=sys.stderr)
    if missing:
        return 1
    print(f"{path}: ok, a Vosk model")
    return 0


def run_models(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    """`callcenter models list | pull | verify`; `settings` reads the settings (the
    verify action needs none)."""
    if args.action == "verify":
        return _verify(args.path)
    chosen = settings()
    models = fetch_model_list(chosen.model_list_url)
    if args.action == "list":
        return _list_models(models, chosen.models_dir, args.lang, args.all)
    return _pull(find_model(models, args.name, chosen.model_list_url), chosen)
