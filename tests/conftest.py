"""Shared fixtures: a real CLI runner, a workspace, and civilian sample data.

The CLI runs in a subprocess with `PYTHONPATH` pointing at this checkout's `src/`, computed from
this file's location, so the tests exercise exactly the tree they sit in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from assay.workspace import Workspace  # noqa: E402
from blob_stacks import use_stack  # noqa: E402
from cli_support import ACTOR, TEST_DB, cli_env, flood_scene  # noqa: E402
from open_connections import closes, no_connection_left_open, thaw_between_files  # noqa: E402
from seaweed import Seaweed, seaweed_server  # noqa: E402

# The PostgreSQL pass's guard (autouse: every test under `--db postgresql`) and its helper.
__all__ = ["closes", "no_connection_left_open"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="metadata database of the workspaces the tests make: SQLite in the workspace, "
        "or PostgreSQL at 127.0.0.1:5432 (database `test`, a fresh schema per test)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--db postgresql`, the `s3` cases of tests run on both blob stacks are left to the
    SQLite pass: the blob store is the same whichever database holds the metadata (the
    Makefile's PostgreSQL pass)."""
    if config.getoption("--db") != "postgresql":
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        (drop if params.get("blob_stack") == "s3" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        return (yield)
    finally:
        thaw_between_files(item, nextitem)


@pytest.fixture(autouse=True)
def database_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """Under `--db postgresql` every test gets its own schema and `ASSAY_DATABASE_URL` names it,
    for the workspaces it opens in-process and for the CLI and servers it starts."""
    if request.config.getoption("--db") != "postgresql":
        yield None
        return
    from pg import fresh_schema

    with ExitStack() as stack:
        if "module_database" in request.fixturenames:  # the test works in its module's world
            url = request.getfixturevalue("module_database")
        else:
            url = stack.enter_context(fresh_schema())
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        monkeypatch.setitem(TEST_DB, "url", url)
        yield url


@pytest.fixture
def new_database(
    database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], None]]:
    """For a test that makes a second, fresh workspace: call it just before that workspace's
    `init`. With SQLite every workspace has its own file already and nothing changes; under
    `--db postgresql` `ASSAY_DATABASE_URL` (and the CLI's environment) names a new schema from
    then on, so the fresh workspace does not share the first one's metadata (workspaces
    opened before keep theirs)."""
    with ExitStack() as stack:

        def switch() -> None:
            if database_url is None:
                return
            from pg import fresh_schema

            url = stack.enter_context(fresh_schema())
            monkeypatch.setenv("ASSAY_DATABASE_URL", url)
            monkeypatch.setitem(TEST_DB, "url", url)

        yield switch


@pytest.fixture(scope="module")
def module_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """For a workspace a module's tests share (a module-scoped fixture takes this one): under
    `--db postgresql` one schema for the module, named by `ASSAY_DATABASE_URL` while the
    fixture builds the workspace and in every test that uses it."""
    if request.config.getoption("--db") != "postgresql":
        yield None
        return
    from pg import fresh_schema

    with fresh_schema() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSAY_DATABASE_URL", url)
        mp.setitem(TEST_DB, "url", url)
        yield url


@dataclass
class CliResult:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"assay {' '.join(self.args)} -> {self.code}\n{self.stdout}\n{self.stderr}"


RunCli = Callable[..., CliResult]


@pytest.fixture(scope="session", autouse=True)
def _audit_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One audit signing key per test session, outside every workspace (never ~/.config).

    Set in `os.environ`, so in-process code and every child process (CLI, servers) sign
    with it; made up front so no test sees the first-use notice unless it asks for one.
    """
    from assay.audit._keys import KEY_ENV, signer

    path = tmp_path_factory.mktemp("audit-key") / "audit-ed25519.key"
    before = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = str(path)
    signer()
    yield path
    if before is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = before


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    """A real SeaweedFS S3 server for this test process (see `seaweed.py`)."""
    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def blob_stack(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """The blob stack of this test: local here; folders whose tests run on both stacks
    override it with `stacks` (their conftest.py)."""
    return use_stack("local", request, monkeypatch, tmp_path)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for a child Python that imports this checkout's `assay`."""
    return cli_env()


@pytest.fixture
def run_cli(tmp_path: Path, blob_stack: str) -> RunCli:
    """Run `python -m assay ARGS` in a subprocess; assert the exit code when `code` is given.

    Every failing run (exit 1 or 2) is checked to print no traceback, and exit 1 to print
    exactly one line starting with ``error:`` on stderr (except `audit verify`, which reports
    the broken event in its own words).
    """

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        code: int | None = 0,
    ) -> CliResult:
        argv = [str(a) for a in args]
        proc = subprocess.run(
            [sys.executable, "-m", "assay", *argv],
            cwd=cwd or tmp_path,
            env=cli_env(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return _checked(CliResult(argv, proc.returncode, proc.stdout, proc.stderr), code)

    return run


def _checked(res: CliResult, code: int | None) -> CliResult:
    """The CLI contract: no traceback, the expected exit code, and exit 1 as one `error:` line."""
    assert "Traceback" not in res.stderr, str(res)
    if code is not None:
        assert res.code == code, str(res)
    if res.code == 1 and "verify" not in res.args:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), str(res)
    return res


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blob_stack: str) -> RunCli:
    """The same `assay` entry point (`assay.cli.main`) run in-process: fast, for output checks.

    Exit codes and the one-line `error:` rule are asserted as in `run_cli`; end-to-end process
    behaviour (no traceback, real interpreter start) is covered by `run_cli`.
    """
    from click.testing import CliRunner

    from assay.cli import main

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        code: int | None = 0,
    ) -> CliResult:
        argv = [str(a) for a in args]
        monkeypatch.chdir(cwd or tmp_path)
        full_env: dict[str, str | None] = {
            "ASSAY_WORKSPACE": None,
            "ASSAY_DATABASE_URL": TEST_DB["url"],
            "ASSAY_ACTOR": ACTOR,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        full_env.update(env or {})
        with CliRunner().isolation(env=full_env) as (out, err, _):
            try:
                main(argv)
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            res = CliResult(argv, rc, out.getvalue().decode(), err.getvalue().decode())
        return _checked(res, code)

    return run


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blob_stack: str) -> Iterator[Workspace]:
    """A fresh workspace in `tmp_path/ws`, opened through the Python API."""
    monkeypatch.setenv("ASSAY_ACTOR", ACTOR)
    monkeypatch.delenv("ASSAY_WORKSPACE", raising=False)
    if not TEST_DB["url"]:
        monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


# --- sample data ---------------------------------------------------------------------------

REPORTS = [
    "Field report: river gauge at the north bridge reads 4.2 m, water over the road.",
    "Field report: two families sheltering on a roof near the school, boat requested.",
    "Field report: levee seepage observed at km 12, sandbagging crew on site.",
    "Field report: earthquake damage to the clinic's east wall, patients moved outside.",
    "Field report: search team cleared block 7, no persons found, marked with X-code.",
    "Field report: power line down across Main Street, area cordoned.",
    "Field report: shelter at the sports hall has 140 people and needs blankets.",
    "Field report: landslide blocks the valley road at the second hairpin.",
]


class Samples:
    """Writes small sample files under a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def png(self, name: str, seed: int = 0, size: tuple[int, int] = (48, 32)) -> Path:
        p = self._path(name)
        flood_scene(seed, size).save(p, format="PNG")
        return p

    def jpeg(
        self,
        name: str,
        seed: int = 0,
        *,
        taken: str | None = None,
        gps: tuple[float, float] | None = None,
    ) -> Path:
        """A JPEG, optionally with EXIF DateTimeOriginal ("YYYY:MM:DD HH:MM:SS") and GPS."""
        p = self._path(name)
        img = flood_scene(seed)
        exif = Image.Exif()
        if taken:
            exif[0x0132] = "2000:01:01 00:00:00"  # DateTime, must lose to DateTimeOriginal
            exif.get_ifd(0x8769)[0x9003] = taken
        if gps:
            lat, lon = gps
            g = exif.get_ifd(0x8825)
            g[1] = "N" if lat >= 0 else "S"
            g[2] = _dms(abs(lat))
            g[3] = "E" if lon >= 0 else "W"
            g[4] = _dms(abs(lon))
        img.save(p, format="JPEG", quality=90, exif=exif)
        return p

    def tiff(self, name: str, seed: int = 0) -> Path:
        p = self._path(name)
        flood_scene(seed).save(p, format="TIFF")
        return p

    def webp(self, name: str, seed: int = 0) -> Path:
        p = self._path(name)
        flood_scene(seed).save(p, format="WEBP", lossless=True)
        return p

    def text(self, name: str, content: str | None = None, seed: int = 0) -> Path:
        p = self._path(name)
        p.write_text(content if content is not None else f"{REPORTS[seed % len(REPORTS)]} #{seed}")
        return p

    def jsonl(self, name: str, rows: list[dict[str, Any]]) -> Path:
        p = self._path(name)
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return p

    def raw(self, name: str, data: bytes) -> Path:
        p = self._path(name)
        p.write_bytes(data)
        return p

    def images(self, folder: str, n: int, start: int = 0) -> list[Path]:
        return [self.png(f"{folder}/scene_{i:04d}.png", seed=i) for i in range(start, start + n)]


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = round((value - d - m / 60) * 3600, 4)
    return (float(d), float(m), s)


@pytest.fixture
def samples(tmp_path: Path) -> Samples:
    return Samples(tmp_path / "data")
