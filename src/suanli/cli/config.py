"""Where the CLI finds the API and its token: flags, then SUANLI_URL / SUANLI_TOKEN, then
the user's config file written by `suanli up` (SUANLI_CONFIG overrides its path)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

APP = "suanli"


def config_path() -> Path:
    override = os.environ.get("SUANLI_CONFIG")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP)) / "config.json"


def default_data_dir() -> Path:
    override = os.environ.get("SUANLI_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP))


@dataclass(frozen=True, slots=True)
class UserConfig:
    url: str
    token: str
    operator_token: str = ""


def write_private_text(path: Path, text: str) -> None:
    """Write `text` readable by the owner only (it holds secrets), atomically: the file is
    0600 from its first byte (a leftover temporary file of another mode is replaced, not
    reused), and a missing parent dir is created 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(text)
    tmp.replace(path)


def write_private_json(path: Path, data: dict[str, str]) -> None:
    """Write JSON readable by the owner only (it holds secrets), atomically."""
    write_private_text(path, json.dumps(data, indent=2))


def save(cfg: UserConfig) -> Path:
    path = config_path()
    write_private_json(path, asdict(cfg))
    return path


def load() -> UserConfig | None:
    path = config_path()
    try:
        data = json.loads(path.read_text())
        return UserConfig(str(data["url"]), str(data["token"]), str(data.get("operator_token", "")))
    except (OSError, ValueError, KeyError):
        return None


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    saved = load()
    final_url = url or os.environ.get("SUANLI_URL") or (saved.url if saved else "")
    final_token = token or os.environ.get("SUANLI_TOKEN") or (saved.token if saved else None)
    return final_url or "http://127.0.0.1:8765", final_token
