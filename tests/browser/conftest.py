"""Browser tests: Debian's Chromium driven by Playwright against the real CLI server.

Each test starts ``ml-assisted-labeling serve`` as a subprocess on a free port, with a
temp SQLite store and a small CSV written by the test, and reads results back with the
``export`` command, as a user would.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 30.0


def _cli() -> str:
    beside = Path(sys.executable).with_name("ml-assisted-labeling")
    if beside.exists():
        return str(beside)
    found = shutil.which("ml-assisted-labeling")
    if not found:
        pytest.fail("The ml-assisted-labeling command is not installed (pip install -e .)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class LabelingServer:
    """A running ``ml-assisted-labeling serve`` and its files."""

    url: str
    store: Path
    workdir: Path
    command: list[str]
    log: Path
    process: subprocess.Popen | None = None
    paused: bool = False
    _exports: int = field(default=0)

    def launch(self) -> None:
        """Start the server (again: same port, same store) and wait until it answers.

        In its own process group, so that ``pause`` stops gunicorn's workers too.
        """
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, cwd=self.workdir, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        _wait_ready(self)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([_cli(), *args], input=stdin, capture_output=True, text=True,
                                cwd=self.workdir, timeout=60)
        assert result.returncode == 0, f"{args} failed: {result.stderr}"
        return result

    def export(self, table: str) -> list[dict[str, str]]:
        """Rows of the labels or metadata table, exported to CSV by the CLI."""
        self._exports += 1
        out = self.workdir / f"{table}-{self._exports}.csv"
        self.cli("export", "--store", str(self.store), "--table", table, "--format", "csv",
                 "-o", str(out))
        with out.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def pause(self) -> None:
        """Freeze every process of the server (SIGSTOP): requests hang, unanswered."""
        os.killpg(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        self.stop()
        self.launch()

    def stop(self) -> None:
        if self.paused:
            self.resume()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_ready(server: LabelingServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"The server exited ({server.process.returncode}):\n"
                        f"{server.log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(server.url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"The server did not start in {START_TIMEOUT}s:\n"
                f"{server.log.read_text(errors='replace')}")


@pytest.fixture
def serve(tmp_path):
    """Start the CLI server on rows written to a CSV: ``serve(rows, *options)``.

    ``users``: (name, role, password) accounts created first with ``users add``.
    """
    servers: list[LabelingServer] = []

    def start(rows: Sequence[dict[str, Any]], *options: str, categories: str = "cat,dog,bird",
              users: Iterable[tuple[str, str, str]] = ()) -> LabelingServer:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        data = write_csv(workdir / "items.csv", rows)
        store = workdir / "labels.db"
        port = _free_port()
        log = workdir / "server.log"
        for name, role, password in users:
            result = subprocess.run(
                [_cli(), "users", "add", name, "--role", role, "--store", str(store),
                 "--password-stdin"],
                input=password + "\n", capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        command = [_cli(), "serve", str(data), "--categories", categories,
                   "--store", str(store), "--port", str(port), "--workers", "1",
                   "--threads", "4", *options]
        server = LabelingServer(f"http://127.0.0.1:{port}/", store, workdir, command, log)
        servers.append(server)
        server.launch()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright import sync_api
    except ImportError as exc:
        pytest.fail(f"Playwright is not installed ({exc}): pip install -e '.[dev]'")
    executable = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"No Chromium at {executable}: run `make browsers` or set CHROMIUM")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dialogs() -> list[tuple[str, str]]:
    """(type, message) of each dialog the page opened, dismissed at once. A test that
    expects one (a "leave page?" prompt) checks and clears this list; any dialog left in
    it fails the test."""
    return []


@pytest.fixture
def page(browser, serve, dialogs):
    """A fresh page; fails the test on any uncaught script error or unexpected dialog.

    Depends on ``serve`` so that the page closes before the servers stop.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))

    def on_dialog(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()
    assert not problems, problems
    assert not dialogs, f"unexpected dialogs: {dialogs}"
