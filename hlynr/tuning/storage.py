"""Where a study lives: a SQLite file in the runs folder (default), any RDB URL, or a journal file.

All three are standard Optuna storages: several processes (or machines, for a server database)
that open the same study name in the same storage share one study, and ``optuna-dashboard``
reads them (:func:`dashboard_command`).
"""

from __future__ import annotations

import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna

from hlynr.config.tuning import storage_kind

DEFAULT_STORAGE_FILE = "tune.db"
SQLITE_LOCK_TIMEOUT_S = 60.0  # parallel processes wait this long for SQLite's write lock
HEARTBEAT_INTERVAL_S = 60  # RDB trials whose process died are marked failed after 2 intervals
OPEN_ATTEMPTS = 8  # tries to open a database that another process is creating


@dataclass(frozen=True)
class StorageSpec:
    """A resolved storage: its kind, its URL or file path, and a password-free display form."""

    kind: str  # "rdb" | "journal"
    target: str  # RDB URL or journal file path
    display: str

    def open(self, heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
             retry_stale: bool = False) -> optuna.storages.BaseStorage:
        """Connect to the storage (creating the file or tables if needed).

        An RDB storage records a running trial's heartbeat every ``heartbeat_interval`` seconds;
        a trial silent for twice as long is failed by the next process that looks, and with
        ``retry_stale`` queued again as a new waiting trial (Optuna's
        ``RetryHeartbeatStaleTrialCallback``). A journal storage has no heartbeats.
        """
        if self.kind == "journal":
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(self.target))
        engine_kwargs: dict = {"pool_pre_ping": True}
        if self.target.startswith("sqlite"):
            engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
        from sqlalchemy.exc import DBAPIError

        attempt = 0
        while True:
            attempt += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    retry = optuna.storages.RetryHeartbeatStaleTrialCallback() if retry_stale else None
                    return optuna.storages.RDBStorage(
                        with_installed_driver(self.target), engine_kwargs=engine_kwargs,
                        heartbeat_interval=heartbeat_interval, grace_period=2 * heartbeat_interval,
                        heartbeat_stale_trial_callback=retry)
            except DBAPIError as exc:
                if attempt >= OPEN_ATTEMPTS or not is_creation_race(exc):
                    raise
                time.sleep(0.2 * attempt + random.random() * 0.3)

    def dashboard_command(self) -> str:
        """The shell command that opens this storage in optuna-dashboard."""
        return f"optuna-dashboard {self.display}"


def open_problem(exc: BaseException) -> str | None:
    """What went wrong opening a storage, said for the user (a missing driver, a refused
    connection, bad credentials, an unreadable file); None when ``exc`` is not such a problem."""
    if isinstance(exc, ImportError):
        return f"a database driver is missing: {exc} (for PostgreSQL: pip install psycopg2-binary)"
    if type(exc).__module__.startswith(("sqlalchemy", "psycopg2", "optuna", "sqlite3")) \
            or isinstance(exc, OSError):
        return (f"cannot open the study storage: {type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0]}")
    return None


def is_creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` comes from processes creating the same new database at once.

    The loser of the race sees a table or version row "already exists" (or a lock); the
    tables are there when it tries again.
    """
    text = str(exc).lower()
    return any(w in text for w in ("already exists", "locked", "duplicate key",
                                   "unique constraint"))


def with_installed_driver(url: str) -> str:
    """Name an installed PostgreSQL driver in ``url`` when it names none.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg (3); when only psycopg2 is installed, the
    URL is rewritten to ``postgresql+psycopg2://``.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername not in ("postgresql", "postgres"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return parsed.set(drivername=f"postgresql+{driver}").render_as_string(
                hide_password=False)
    return url


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def resolve_storage(storage: str | None, runs_dir: Path, name: str) -> StorageSpec:
    """Turn the ``tune.storage`` value into a :class:`StorageSpec`.

    ``None`` means ``<runs_dir>/<name>/tune.db`` (SQLite); file paths are relative to the
    current directory; anything with ``://`` is an RDB URL passed to Optuna as-is.
    """
    if storage is None:
        path = (Path(runs_dir) / name / DEFAULT_STORAGE_FILE).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
        return StorageSpec("rdb", url, url)
    kind = storage_kind(storage)
    if kind == "rdb":
        if storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).expanduser().resolve().parent.mkdir(
                parents=True, exist_ok=True)
        return StorageSpec("rdb", storage, _hide_password(storage))
    path = Path(storage).expanduser().resolve()
    if kind == "sqlite_file":
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
        return StorageSpec("rdb", url, url)
    return StorageSpec("journal", str(path), str(path))
