"""Where the CLI finds the API and its token: flags, then SUANLI_URL / SUANLI_TOKEN, then
the user's config file written by `suanli up` (SUANLI_CONFIG overrides its path)."""

from __future__ import annotations

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


def write_private_json(path: Path, data: dict[str, str]) -> None:
    """Write JSON readable by the owner only (it holds secrets), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    tmp.replace(path)


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
