"""Secrets the CLI handles: the agent's token never comes from its command line and only
from a private file or its environment; files holding secrets are 0600 from their first
byte; the log file is private, rotated and masks tokens."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli import config
from suanli.cli.agent import TOKEN_ENV, TokenError, read_token
from suanli.cli.logfile import MaskTokens, PrivateRotatingFileHandler
from suanli.cli.main import app

TOKEN = "sl_abcdefghijklmnopqrstuvwxyz0123456789"
runner = CliRunner()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def agent_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["agent", "--url", "http://127.0.0.1:1", "--state-dir", str(tmp_path / "s"), *extra]


def test_a_token_file_must_be_private(tmp_path: Path) -> None:
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o640)
    with pytest.raises(TokenError, match="chmod 600"):
        read_token(token_file)
    result = runner.invoke(app, agent_args(tmp_path, "--token-file", str(token_file)))
    assert result.exit_code == 2
    assert "chmod 600" in result.output and TOKEN not in result.output
    token_file.chmod(0o600)
    assert read_token(token_file) == TOKEN


def test_a_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    os.chown(token_file, 65534, 65534)
    with pytest.raises(TokenError, match="belongs to uid 65534"):
        read_token(token_file)


def test_the_token_comes_from_the_environment_and_leaves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert read_token(None) == TOKEN
    assert TOKEN_ENV not in os.environ  # nothing the agent starts inherits it
    with pytest.raises(TokenError, match=TOKEN_ENV):
        read_token(None)


def test_a_token_on_the_command_line_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, agent_args(tmp_path, "--token", TOKEN))
    assert result.exit_code == 2
    assert "--token is gone" in result.output and "--token-file" in result.output


def test_private_files_are_0600_from_the_start(tmp_path: Path) -> None:
    target = tmp_path / "secret" / "tokens.json"
    target.parent.mkdir(mode=0o755)
    # a stale temporary file of a crashed writer, world-readable: never reused as is
    stale = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    stale.write_text("old")
    stale.chmod(0o644)
    config.write_private_json(target, {"operator": TOKEN})
    assert mode(target) == 0o600 and TOKEN in target.read_text()
    assert not stale.exists()
    fresh = tmp_path / "new-dir" / "agent.token"
    config.write_private_text(fresh, TOKEN)
    assert (mode(fresh), mode(fresh.parent)) == (0o600, 0o700)


def test_the_log_file_is_private_rotated_and_masks_tokens(tmp_path: Path) -> None:
    path = tmp_path / "suanli.log"
    path.write_text("from an older version\n")
    path.chmod(0o644)
    handler = PrivateRotatingFileHandler(path, maxBytes=200, backupCount=2, encoding="utf-8")
    handler.addFilter(MaskTokens())
    logger = logging.getLogger("suanli.test.logfile")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for n in range(20):
            logger.warning("line %d of a busy server", n)
        logger.warning("agent %s registered with token %s", "a1", TOKEN)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.glob("suanli.log*"))
    assert [f.name for f in files] == ["suanli.log", "suanli.log.1", "suanli.log.2"]
    assert all(mode(f) == 0o600 for f in files)
    text = "".join(f.read_text() for f in files)
    assert TOKEN not in text
    assert "agent a1 registered with token sl_***" in path.read_text()
