"""Where `callcenter simulate` takes its admin token from: a file (or standard input), the
environment, or, discouraged with a warning, the command line (visible in ps)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from callcenter.cli import _admin_token
from callcenter.errors import CallcenterError


def args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"token_file": None, "token": None, **given})


def test_the_token_comes_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("cc_abc.def\nignored\n")
    assert _admin_token(args(token_file=path)) == "cc_abc.def"


def test_the_token_comes_from_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("  cc_from.stdin  \n"))
    assert _admin_token(args(token_file=Path("-"))) == "cc_from.stdin"


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_ADMIN_TOKEN", "cc_env.token")
    assert _admin_token(args()) == "cc_env.token"


def test_a_token_on_the_command_line_works_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _admin_token(args(token="cc_argv.token")) == "cc_argv.token"
    assert "ps" in capsys.readouterr().err


def test_no_token_or_an_unreadable_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLCENTER_ADMIN_TOKEN", raising=False)
    with pytest.raises(CallcenterError, match="--token-file"):
        _admin_token(args())
    with pytest.raises(CallcenterError, match="cannot read --token-file"):
        _admin_token(args(token_file=tmp_path / "missing"))
