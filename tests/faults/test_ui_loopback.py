"""`make ui` serves the MLflow UI on 127.0.0.1 only, unless HOST= asks for more."""

import os
import signal
import socket
import subprocess
import time
import urllib.request

import psutil
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_ui_listens_on_loopback_only(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        ["make", "-s", "ui", f"PORT={port}", f"MLRUNS={tmp_path}"],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    make = psutil.Process(proc.pid)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the MLflow UI did not answer on 127.0.0.1")
        tree = [make, *make.children(recursive=True)]
        listening = {
            c.laddr.ip
            for p in tree
            for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}
    finally:  # the server and its uvicorn worker stop after make itself: wait for all of them
        tree = [make, *make.children(recursive=True)]
        os.killpg(proc.pid, signal.SIGTERM)
        for left in psutil.wait_procs(tree, timeout=30)[1]:
            left.kill()
        proc.wait(timeout=30)
