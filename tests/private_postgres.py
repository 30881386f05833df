"""A PostgreSQL server of a test's own (pgserver's binaries, a data folder the test owns, a Unix socket
in it), for tests that stop or restart the server: the shared test server is never touched."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from revwatch import embedded


class PrivatePostgres:
    """`with PrivatePostgres() as pg:` a server started in a new folder of /tmp, stopped and removed at the end
    (not under pytest's tmp_path: pytest keeps that 0700 to root, and the server runs as pgserver's own user
    when the tests run as root)."""

    def __enter__(self) -> PrivatePostgres:
        self.data = Path(tempfile.mkdtemp(prefix="rwtrial")) / "pg"
        self.server = embedded.get_server(self.data, cleanup_mode=None)
        import pgserver

        self.pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
        self.socket_dir = psycopg.conninfo.conninfo_to_dict(self.url())["host"]
        return self

    def __exit__(self, *exc) -> None:
        self._ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data.parent, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m fast`: every connection is ended, the server down a moment, then back."""
        self._ctl("-m", mode, "restart")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def start(self) -> None:
        self._ctl("-o", f'-h "" -k {self.socket_dir}', "start")

    def _ctl(self, *args: str, check: bool = True) -> None:
        # the server's output goes to its log file: a pipe it keeps open would hang pg_ctl
        cmd = [str(self.pg_ctl), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.data / "log"), *args]
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(cmd, user=self.server.system_user, check=False, timeout=120, stdout=out, stderr=out)
            out.seek(0)
            if check and done.returncode:
                raise RuntimeError(f"pg_ctl {' '.join(args)} exited {done.returncode}: {out.read()}")
