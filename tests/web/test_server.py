"""The real CLI server (gunicorn): durability under kill -9, refusal off loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from assisted_labeling.store.sqlite import SQLiteStore

CLI = [sys.executable, "-m", "assisted_labeling.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {seconds}s")


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)


@pytest.fixture
def table(tmp_path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("id,text\n" + "".join(f"{i},row {i}\n" for i in range(50)))
    return path


def test_acknowledged_labels_survive_kill_9(tmp_path, table):
    port, db = free_port(), tmp_path / "labels.db"
    proc = subprocess.Popen(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(db),
         "--id-column", "id", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/stats", proc)
        acked = []
        for i in range(20):
            item = get(f"{base}/api/next")["items"][0]
            post(f"{base}/api/annotations", {"item_id": item["id"], "label": "ab"[i % 2]})
            acked.append(item["id"])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # master and workers, no clean shutdown
        proc.wait(timeout=10)
    store = SQLiteStore(db)
    saved = {a.item_key for a in store.iter_annotations()}
    assert saved == set(acked)
    assert store.stats().labeled == 20


def test_refuses_a_public_address_without_accounts(tmp_path, table):
    result = subprocess.run(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(tmp_path / "l.db"),
         "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "without accounts" in result.stderr
    # Refused before the pool is read: no store made, however big the pool.
    assert not (tmp_path / "l.db").exists()


def test_behind_a_proxy_accounts_are_required_even_on_loopback(tmp_path, table):
    result = subprocess.run(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(tmp_path / "l.db"),
         "--behind-proxy", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Refusing to serve behind a proxy without accounts" in result.stderr


def test_a_public_address_with_accounts_serves_and_asks_for_a_proxy(tmp_path, table):
    db = tmp_path / "l.db"
    subprocess.run([*CLI, "users", "add", "boss", "--role", "manager", "--store", str(db),
                    "--password-stdin"], input="a long password\n", text=True, check=True,
                   capture_output=True, timeout=60)
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(db),
         "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("Open http"):
                break
        assert any("reverse proxy that buffers requests" in line for line in lines), lines
        deadline = time.time() + 30
        while True:  # served, and closed to strangers
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=1)
                raise AssertionError("answered without credentials")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except OSError:
                assert time.time() < deadline, "the server did not answer"
                time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_bad_input_gives_a_clear_error(tmp_path):
    result = subprocess.run(
        [*CLI, "serve", str(tmp_path / "missing.csv"), "--categories", "a,b",
         "--store", str(tmp_path / "l.db")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def retraining_process(group: int, seconds: float = 30) -> int:
    """The pid of the retraining process in the server's process group."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
                in_group = os.getpgid(int(entry.name)) == group
            except (OSError, ProcessLookupError):
                continue  # ended meanwhile
            if in_group and b"assisted_labeling.retrain" in command:
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError("no retraining process within 30 s")


def test_serve_retrains_in_the_background_and_reranks(tmp_path):
    rng = __import__("numpy").random.default_rng(0)
    table = tmp_path / "pool.csv"
    xs = rng.random(400)
    table.write_text("id,x\n" + "".join(f"{i},{x:.4f}\n" for i, x in enumerate(xs)))
    port, db = free_port(), tmp_path / "labels.db"
    proc = subprocess.Popen(
        [*CLI, "serve", str(table), "--categories", "lo,hi", "--store", str(db),
         "--id-column", "id", "--port", str(port), "--retrain-every", "6",
         "--feature-columns", "x"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/stats", proc)
        # Retraining happens in its own process only: with it paused, labeling goes on
        # and nothing is retrained (a request that retrained would show session 1).
        worker = retraining_process(proc.pid)
        os.kill(worker, signal.SIGSTOP)
        order = xs.argsort()
        for i in [*order[:3], *order[-3:]]:  # both classes, whatever the queue order
            post(f"{base}/api/annotations",
                 {"item_id": str(i), "label": "hi" if xs[i] > 0.5 else "lo"})
        assert get(f"{base}/api/config")["session"] == 0
        assert not (tmp_path / "labels.model.skops").exists()
        os.kill(worker, signal.SIGCONT)
        deadline = time.time() + 60
        while time.time() < deadline:
            config = get(f"{base}/api/config")
            if config["session"] == 1:
                break
            time.sleep(0.5)
        assert config["session"] == 1, "no retraining within 60 s"
        assert (tmp_path / "labels.model.skops").is_file()
        # 6 labels for a batch of 6 (the cold start): 3 items typical of the pool, then
        # the 3 most uncertain, near the x = 0.5 boundary.
        items = get(f"{base}/api/next?count=6")["items"]
        assert len(items) == 6
        assert all(abs(float(i["data"]["x"]) - 0.5) < 0.2 for i in items[3:])
        assert all(i["uncertainty"] is not None for i in items)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    # Stopping is quiet: gunicorn's workers do not inherit the retraining process.
    assert "Traceback" not in proc.stderr.read().decode()


def test_the_demo_runs_the_active_learning_loop(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "demo", "--dir", str(tmp_path / "demo"), "--port", str(port),
         "--retrain-every", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/stats", proc)
        items = get(f"{base}/api/next?count=20")["items"]
        assert all(i["uncertainty"] is None for i in items)  # no model yet

        def truth(item):
            rating = int(item["data"]["rating"])
            return "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral"

        # 5 labels, as a labeler gives them in the queue's (random) order; were they all
        # of one class, the first item of another class follows (a model needs two).
        chosen = items[:5]
        if len({truth(i) for i in chosen}) == 1:
            chosen.append(next(i for i in items if truth(i) != truth(chosen[0])))
        for item in chosen:
            post(f"{base}/api/annotations", {"item_id": item["id"], "label": truth(item)})
        deadline = time.time() + 60
        while time.time() < deadline:
            if get(f"{base}/api/config")["session"] == 1:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the demo did not retrain within 60 s")
        items = get(f"{base}/api/next?count=5")["items"]
        assert len(items) == 5 and all(0 <= i["uncertainty"] <= 1 for i in items)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user stops the demo
        proc.wait(timeout=20)
    assert "Traceback" not in proc.stderr.read().decode()


def test_the_real_server_refuses_big_chunked_bodies_and_other_hosts(tmp_path, table):
    import http.client

    port, db = free_port(), tmp_path / "labels.db"
    old_umask = os.umask(0o022)
    try:
        proc = subprocess.Popen(
            [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(db),
             "--id-column", "id", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    finally:
        os.umask(old_umask)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/stats", proc)

        def send(method, body_chunks=None, headers=()):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, "/api/annotations" if body_chunks else "/api/next",
                         body=body_chunks, encode_chunked=body_chunks is not None,
                         headers={"Content-Type": "application/json", **dict(headers)})
            response = conn.getresponse()
            result = response.status, json.loads(response.read())
            conn.close()
            return result

        big = iter([b'{"item_id": "1", "label": "a", "comment": "'] +
                   [b"x" * 65536] * 48 + [b'"}'])
        status, body = send("POST", big)
        assert status == 413 and body["error"] == "The request is too large"
        status, body = send("POST", iter([b'{"item_id": "1", ', b'"label": "a"}']))
        assert status == 201
        status, body = send("GET", headers={"Host": "attacker.example"})
        assert status == 403 and body["code"] == "not_loopback"
        if os.name == "posix":
            assert oct(os.stat(db).st_mode & 0o777) == oct(0o600)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_failed_retraining_reaches_the_labelers_warnings(tmp_path):
    """A real server and retraining process: two labels of one class cannot train a
    model; labelers are told, and labeling goes on. The pool's own "label" column is
    accepted once the labels get another name."""
    table = tmp_path / "pool.csv"
    table.write_text("x,size,label\n" + "".join(
        f"{i / 10},{'M' if i % 2 else i},{'yes' if i % 3 else 'no'}\n" for i in range(10)))
    port, db = free_port(), tmp_path / "labels.db"
    proc = subprocess.Popen(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(db),
         "--port", str(port), "--retrain-every", "2", "--label-column", "annotation"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/stats", proc)
        items = get(f"{base}/api/next?count=2")["items"]
        for item in items:
            post(f"{base}/api/annotations", {"item_id": item["id"], "label": "a"})
        deadline, warnings = time.time() + 60, []
        while time.time() < deadline and not warnings:
            warnings = get(f"{base}/api/config")["warnings"]
            time.sleep(0.3)
        assert len(warnings) == 1, "no warning within 60 s"
        assert "could not be trained yet" in warnings[0] and "at least 2 classes" in warnings[0]
        assert str(tmp_path) not in warnings[0]  # no server path for remote labelers
        assert len(get(f"{base}/api/next")["items"]) == 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_store_another_server_serves_is_refused_and_freed_when_it_dies(tmp_path, table):
    """A second `serve` on the store of a running one would sync its own pool into it:
    the running server's items would change under its labelers. It is refused until
    the first one is gone, even killed with -9."""
    port, db = free_port(), tmp_path / "labels.db"
    first = subprocess.Popen(
        [*CLI, "serve", str(table), "--categories", "a,b", "--store", str(db),
         "--id-column", "id", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    few = tmp_path / "few.csv"
    few.write_text("id,text\n1,row 1\n")
    second = [*CLI, "serve", str(few), "--categories", "a,b", "--store", str(db),
              "--id-column", "id", "--port", str(free_port())]
    try:
        wait_for(f"http://127.0.0.1:{port}/api/stats", first)
        result = subprocess.run(second, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert f"Another server (process {first.pid}, or its workers) serves the store" \
            in result.stderr
        assert get(f"http://127.0.0.1:{port}/api/stats")["total"] == 50
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    time.sleep(0.5)  # the workers go with their master
    port = free_port()
    second[-1] = str(port)
    again = subprocess.Popen(second, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/stats", again)
        assert get(f"http://127.0.0.1:{port}/api/stats")["total"] == 1
    finally:
        os.killpg(again.pid, signal.SIGKILL)
        again.wait(timeout=10)
