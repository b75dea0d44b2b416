"""What the local engine's isolation guarantees, tried for real by a hostile job.

As root (as `suanli up` and CI run), each tenant's jobs run as an OS user of their own in
a PID namespace of their own, with a clean environment and private scratch dirs; the
platform's files are private to its user. A hostile job gets the paths of everything
worth stealing (tokens.json, the user's config, the database and its WAL, another job's
spec, state and logs, another tenant's scratch files) and the pids of another tenant's
job and of its own agent, tries them all, and prints what it got: every access must be
denied and no secret may appear in its output. Without root the engine runs jobs as its
own user, which only the environment and scratch-dir checks below cover (docs/engines.md
says what that leaves open).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.engines.contract import python_every_user_can_run
from tests.engines.hostile import HOSTILE
from tests.engines.test_local_engine import (
    final,
    live_with_argv,
    started,
    stdout_of,
    unique_seconds,
    wait_for,
)

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines import local as local_engine
from suanli.adapters.engines import local_shim as shim
from suanli.adapters.engines.local import (
    HASHED_USER_PREFIX,
    JobUsers,
    LocalEngine,
    job_user_name,
    user_comment,
)
from suanli.adapters.store_sql.database import make_engine, sqlite_url
from suanli.cli import config
from suanli.cli.up import prepare_data_dir
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.engine import EngineError, EngineTask

PY = python_every_user_can_run()
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not ROOT,
    reason="isolation needs root: as another user the local engine runs jobs as that user "
    "(docs/engines.md); CI runs as root",
)

SECRETS = {
    "operator": "sl_operator-secret-0123456789",
    "user": "sl_user-secret-0123456789",
    "agent": "sl_agent-secret-0123456789",
    "config": "sl_config-secret-0123456789",
    "database": "db-row-secret-0123456789",
    "victim_env": "victim-env-secret-0123456789",
    "victim_file": "victim-file-secret-0123456789",
    "agent_env": "sl_agent-env-secret-0123456789",
    "database_url": "postgresql://suanli:db-url-secret-0123456789@db/suanli",
}


def task(job: str, *argv: str, tenant: str, **kwargs: Any) -> EngineTask:
    return EngineTask(JobId(job), 1, tuple(argv), Resources.request(), tenant_id=tenant, **kwargs)


def group_pids(pgid: int) -> list[int]:
    """The live processes of a job's group as this (the host's) PID namespace sees them."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[2] == str(pgid) and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def engine(shared_tmp: Path, jobs_root: Path) -> LocalEngine:
    """An engine whose state dir's parent every user may enter: the engine's own modes,
    not pytest's private tmp dir, are what keep jobs out."""
    return LocalEngine(
        shared_tmp / "state", SystemClock(), timeout_grace_s=0.5, jobs_root=jobs_root
    )


@pytest.fixture
def platform_files(shared_tmp: Path) -> Iterator[dict[str, Path]]:
    """A data dir and a user config as `suanli up` writes them, holding secrets; the
    database stays open (its -wal and -shm files exist) until the test ends."""
    data = shared_tmp / "data"
    prepare_data_dir(data)
    tokens = data / "tokens.json"
    config.write_private_json(tokens, {k: SECRETS[k] for k in ("operator", "user", "agent")})
    cfg = shared_tmp / "home" / "config.json"
    config.write_private_json(cfg, {"url": "http://x", "token": SECRETS["config"]})
    db = make_engine(sqlite_url(data))
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE secrets (value TEXT)"))
        conn.execute(text("INSERT INTO secrets VALUES (:v)"), {"v": SECRETS["database"]})
    assert (data / "suanli.db-wal").exists()  # WAL mode: the row is in the WAL still
    files = {
        "tokens": tokens,
        "config": cfg,
        "database": data / "suanli.db",
        "wal": data / "suanli.db-wal",
        "shm": data / "suanli.db-shm",
    }
    yield files
    db.dispose()


def test_platform_files_are_private(platform_files: dict[str, Path]) -> None:
    data = platform_files["tokens"].parent
    assert mode(data) == 0o700
    for name in ("tokens", "config", "database", "wal", "shm"):
        assert mode(platform_files[name]) == 0o600, name
    assert mode(platform_files["config"].parent) == 0o700


@needs_root
def test_a_hostile_job_reads_nothing_of_the_platform_or_other_tenants(
    engine: LocalEngine,
    platform_files: dict[str, Path],
    shared_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what the agent's environment holds must not reach any job
    monkeypatch.setenv("SUANLI_AGENT_TOKEN", SECRETS["agent_env"])
    monkeypatch.setenv("SUANLI_DATABASE_URL", SECRETS["database_url"])
    state_dir = shared_tmp / "state"

    # another tenant's job, with a secret in its environment and in its scratch dir
    seconds = unique_seconds()
    victim_script = f'printf %s "$VICTIM_SECRET_FILE" > "$HOME/secret"; exec sleep {seconds}'
    victim = engine.submit(
        task(
            "j-victim",
            "sh",
            "-c",
            victim_script,
            tenant="iso-victim",
            env={
                "VICTIM_SECRET": SECRETS["victim_env"],
                "VICTIM_SECRET_FILE": SECRETS["victim_file"],
            },
        )
    )
    pgid = started(state_dir, victim)["pgid"]
    wait_for(lambda: live_with_argv(["sleep", seconds]), 10.0, "the victim to run")
    (victim_scratch,) = engine.jobs_dir.glob(f"*/{victim}")
    wait_for(lambda: (victim_scratch / "secret").exists(), 10.0, "the victim's file")
    victim_pids = group_pids(pgid)
    assert len(victim_pids) >= 3  # unshare, the namespace's init, the job

    targets = {
        "files": {
            **{name: str(path) for name, path in platform_files.items()},
            "victim_spec": str(state_dir / victim / shim.SPEC_FILE),
            "victim_state": str(state_dir / victim / shim.STATE_FILE),
            "victim_stdout": str(state_dir / victim / shim.STDOUT_LOG),
            "victim_scratch_file": str(victim_scratch / "secret"),
        },
        "pids": [*victim_pids, os.getpid(), 1],  # the other job, its agent, the init
    }
    hostile = engine.submit(
        task("j-hostile", PY, "-c", HOSTILE, json.dumps(targets), tenant="iso-hostile")
    )
    state = final(engine, hostile, timeout=20.0)
    output = stdout_of(engine, hostile) + engine.read_log(hostile, "stderr", 0, 1 << 20).decode()
    assert state.status is JobStatus.SUCCEEDED, output
    found = json.loads(stdout_of(engine, hostile))

    for secret in SECRETS.values():
        assert secret not in output
    assert found["files"] == {name: "DENIED PermissionError" for name in targets["files"]}
    for pid, outcome in found["environs"].items():
        assert outcome.startswith("DENIED"), (pid, outcome)
    for pid in victim_pids:  # another tenant's processes are not even there
        assert found["environs"][str(pid)] == "DENIED FileNotFoundError"
        assert found["signals"][str(pid)] == "DENIED ProcessLookupError"
    # its own environment: the job's variables and the engine's four, nothing inherited
    assert set(found["own_env"]) == {
        "HOME",
        "LANG",
        "PATH",
        "TMPDIR",
        "SUANLI_JOB_ID",
        "SUANLI_ATTEMPT",
        "SUANLI_GANG_SIZE",
    }
    # it sees its own namespace only: its init and itself
    assert sorted(found["visible"]) == ["1", "2"], found["visible"]
    assert seconds not in json.dumps(found["visible"])
    hostile_user = pwd.getpwnam(job_user_name("iso-hostile"))
    assert found["uid"] == hostile_user.pw_uid != 0

    # the files that kept it out
    assert mode(state_dir) == 0o700 and mode(state_dir / victim) == 0o700
    assert mode(engine.jobs_dir) == 0o711
    victim_user = pwd.getpwnam(job_user_name("iso-victim"))
    for scratch_dir in (victim_scratch, victim_scratch.parent):
        info = scratch_dir.stat()
        assert (info.st_uid, mode(scratch_dir)) == (victim_user.pw_uid, 0o700)

    engine.cancel(victim, grace_s=1.0)
    assert final(engine, victim).status is JobStatus.CANCELLED


@needs_root
def test_jobs_of_one_tenant_do_not_see_each_other_either(
    engine: LocalEngine, shared_tmp: Path
) -> None:
    seconds = unique_seconds()
    first = engine.submit(
        task("j-first", "sleep", seconds, tenant="iso-same", env={"MINE": SECRETS["victim_env"]})
    )
    pgid = started(shared_tmp / "state", first)["pgid"]
    wait_for(lambda: live_with_argv(["sleep", seconds]), 10.0, "the first job to run")
    targets = {"files": {}, "pids": group_pids(pgid)}
    second = engine.submit(
        task("j-second", PY, "-c", HOSTILE, json.dumps(targets), tenant="iso-same")
    )
    assert final(engine, second, timeout=20.0).status is JobStatus.SUCCEEDED
    found = json.loads(stdout_of(engine, second))
    assert set(found["environs"].values()) == {"DENIED FileNotFoundError"}
    assert SECRETS["victim_env"] not in stdout_of(engine, second)
    engine.cancel(first, grace_s=1.0)
    assert final(engine, first).status is JobStatus.CANCELLED


@needs_root
def test_a_process_that_leaves_the_group_dies_with_the_job(
    engine: LocalEngine, shared_tmp: Path
) -> None:
    escapee, main = unique_seconds(), unique_seconds()
    script = f"setsid sleep {escapee} & sleep {main}"
    key = engine.submit(task("j-escape", "sh", "-c", script, tenant="iso-escape"))
    started(shared_tmp / "state", key)
    wait_for(lambda: live_with_argv(["sleep", escapee]), 10.0, "the escapee to run")
    engine.cancel(key, grace_s=2.0)
    state = final(engine, key)
    assert (state.status, state.exit_code) == (JobStatus.CANCELLED, 143)
    # the namespace died with the job's init: setsid did not get it out
    wait_for(lambda: not live_with_argv(["sleep", escapee]), 5.0, "the escapee to die")


@needs_root
def test_a_working_dir_the_tenant_cannot_enter_is_refused(
    engine: LocalEngine, tmp_path: Path
) -> None:
    # the shim could enter it (it is root); the job must not be placed there anyway
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    key = engine.submit(task("j-private", "true", tenant="iso-wd", working_dir=str(private)))
    state = final(engine, key)
    assert (state.status, state.exit_code) == (JobStatus.FAILED, 127)
    assert "cannot enter working directory" in state.reason
    assert job_user_name("iso-wd") in state.reason


def test_job_user_names_fit_and_never_collide() -> None:
    assert job_user_name("default") == "suanli-t-default"
    long_slug = "a" * 40
    odd = ["", "Upper", "with space", "x" * 63, long_slug, "a" * 23, "a" * 24]
    names = [job_user_name(t) for t in odd]
    assert all(len(n) <= 32 for n in names)
    assert len(set(names)) == len(odd)
    assert job_user_name("a" * 23) == "suanli-t-" + "a" * 23
    assert job_user_name("a" * 24).startswith(HASHED_USER_PREFIX)
    assert job_user_name("Upper").startswith(HASHED_USER_PREFIX)
    # a slug that looks like a hashed name still gets the slug prefix
    assert job_user_name("suanli-h-x") == "suanli-t-suanli-h-x"
    assert user_comment("bad:tenant\nx") == "suanli tenant bad?tenant?x"


def _userdel(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, check=False)


@needs_root
def test_job_users_are_created_once_under_concurrency(shared_tmp: Path) -> None:
    tenant = "iso-race"
    _userdel(job_user_name(tenant))  # from an earlier run: this test creates it
    lock = shared_tmp / "users.lock"
    registries = [JobUsers(lock), JobUsers(lock)]  # two agents sharing a jobs root
    results: list[object] = []

    def get(users: JobUsers) -> None:
        try:
            results.append(users.get(tenant))
        except EngineError as exc:
            results.append(exc)

    threads = [threading.Thread(target=get, args=(registries[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1, results
    entry = pwd.getpwnam(job_user_name(tenant))
    assert entry.pw_gecos == user_comment(tenant)
    assert entry.pw_shell == "/usr/sbin/nologin" and entry.pw_uid != 0
    assert not Path(entry.pw_dir).exists()  # no home: jobs get a scratch dir instead
    accounts = Path("/etc/passwd").read_text().splitlines()
    assert sum(line.startswith(entry.pw_name + ":") for line in accounts) == 1


@needs_root
def test_an_account_suanli_did_not_make_is_never_used(shared_tmp: Path) -> None:
    tenant = "iso-foreign"
    name = job_user_name(tenant)
    _userdel(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--comment", "an admin", name], check=True
    )
    try:
        with pytest.raises(EngineError, match="did not create it"):
            JobUsers(shared_tmp / "users.lock").get(tenant)
    finally:
        _userdel(name)


def test_unisolated_jobs_still_get_a_clean_environment_and_scratch(
    shared_tmp: Path,
    jobs_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SUANLI_AGENT_TOKEN", SECRETS["agent_env"])
    monkeypatch.setattr(local_engine, "_warned_unisolated", False)
    with caplog.at_level(logging.WARNING, logger="suanli.engine.local"):
        engine = LocalEngine(
            shared_tmp / "plain", SystemClock(), jobs_root=jobs_root, isolate=False
        )
        LocalEngine(shared_tmp / "plain2", SystemClock(), jobs_root=jobs_root, isolate=False)
    assert not engine.isolated
    assert len([r for r in caplog.records if "unisolated" in r.getMessage()]) == 1
    script = "import json, os; print(json.dumps([os.getuid(), os.getcwd(), dict(os.environ)]))"
    key = engine.submit(task("j-plain", PY, "-c", script, tenant="anyone"))
    assert final(engine, key).status is JobStatus.SUCCEEDED
    uid, cwd, env = json.loads(stdout_of(engine, key))
    assert uid == os.geteuid()  # the weaker guarantee: the agent's own user
    assert "SUANLI_AGENT_TOKEN" not in env and SECRETS["agent_env"] not in json.dumps(env)
    assert Path(cwd).is_relative_to(engine.jobs_dir)
    assert mode(shared_tmp / "plain") == 0o700 and mode(engine.jobs_dir) == 0o700
