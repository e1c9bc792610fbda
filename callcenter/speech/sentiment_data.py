"""Where the sentiment data files come from: a path given, else the copy packaged in
`callcenter/speech/data/`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from callcenter.errors import SentimentDataInvalid


def read_data_file(path: Path | None, name: str) -> tuple[str, bytes]:
    """(where it was read, its bytes) of `path`, or of the packaged file `name` when `path`
    is None. Raises SentimentDataInvalid naming the file when it cannot be read."""
    if path is not None:
        try:
            return str(path), path.read_bytes()
        except OSError as error:
            raise SentimentDataInvalid(str(path), error.strerror or str(error)) from None
    resource = resources.files("callcenter.speech").joinpath("data").joinpath(name)
    try:
        return str(resource), resource.read_bytes()
    except OSError as error:
        raise SentimentDataInvalid(str(resource), error.strerror or str(error)) from None
