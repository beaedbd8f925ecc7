"""Fixtures of the browser test: a headless JupyterLab on a free loopback port and Debian's
Chromium driven by Playwright.

Run through ``make browser-test`` (it installs JupyterLab, ipympl and Playwright, and Chromium if
/usr/bin/chromium is missing). Settings, all from the environment:

* ``MIL_BROWSER_TEST=1``: required; without it the tests here are skipped (and ``pytest tests``
  does not even collect this folder, see ``tests/conftest.py``).
* ``MIL_BROWSER_NOTEBOOK``: the notebook to run, relative to the repository root (default
  ``notebooks/03_acmil.ipynb``, or this folder's ``explorer_demo.ipynb`` while that is missing).
* ``MIL_BROWSER_TIMEOUT``: seconds allowed for Run All to reach the explorer (default 1200).
* ``MIL_CHROMIUM``: the browser binary (default ``/usr/bin/chromium``).
* ``MIL_BROWSER_OUT``: where screenshots and the server log go (default ``build/browser``).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = Path(__file__).with_name("explorer_demo.ipynb")
CHAPTER = ROOT / "notebooks" / "03_acmil.ipynb"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]

# JupyterLab settings for a test run: no autosave (the copy must not be rewritten while cells
# run), every cell kept in the DOM, no news or update checks (the network is closed)
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings":
        {"autosave": False, "autoStartDefaultKernel": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Linux /proc): the kernels our server started run in
    sessions of their own, so killing the server's process group would not reach them."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _api(url: str, token: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{url}{path}", method=method,
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="session")
def out_dir() -> Path:
    d = Path(os.environ.get("MIL_BROWSER_OUT", ROOT / "build" / "browser"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def notebook() -> Path:
    """The notebook to run: a copy next to the original (so its relative paths hold), removed
    afterwards; the original is never opened, so nothing writes outputs into it."""
    given = os.environ.get("MIL_BROWSER_NOTEBOOK")
    src = (ROOT / given) if given else (CHAPTER if CHAPTER.exists() else DEMO)
    if not src.exists():
        pytest.fail(f"MIL_BROWSER_NOTEBOOK={given!r}: no such notebook under {ROOT}")
    copy = src.with_name(f"_browser_test_{secrets.token_hex(4)}.ipynb")
    shutil.copyfile(src, copy)
    print(f"\nbrowser test on {src.relative_to(ROOT)} (running a copy: {copy.name})")
    yield copy
    copy.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def lab(out_dir):
    """A JupyterLab server: ``(base_url, token)``. Stopped at the end, pass or fail: its
    kernels are shut down through the API, then the server's process group is terminated, and
    anything still alive below it is killed by process id."""
    port, token = _free_port(), secrets.token_hex(24)
    tmp = Path(tempfile.mkdtemp(prefix="mil-lab-"))
    for name, value in LAB_SETTINGS.items():
        f = tmp / "settings" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_PLATFORM_DIRS="1", TQDM_DISABLE="1",
               # the kernel imports this checkout's milhelpers, installed or not
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    log = open(out_dir / "jupyterlab.log", "w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={tmp / 'settings'}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:  # CI and containers run as root; the server refuses that by default
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def interrupted(signum, frame):  # `timeout` or CI sends SIGTERM: still run the teardown
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}; see {log.name}")
            try:
                _api(url, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {url} within 120 s; see {log.name}")
                time.sleep(0.5)
        yield url, token
    finally:
        try:
            for k in _api(url, token, "/api/kernels") or []:
                _api(url, token, f"/api/kernels/{k['id']}", method="DELETE")
        except Exception as err:  # the server may be gone already: the kill below still runs
            print(f"could not shut the kernels down through the API: {err}")
        below = _descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def browser_page(tmp_path_factory):
    """A Playwright page in Debian's Chromium (a fresh profile; no browser download)."""
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("MIL_CHROMIUM", "/usr/bin/chromium")
    if not Path(exe).exists():
        pytest.fail(f"no Chromium at {exe}: `make browser-test` installs Debian's chromium, or "
                    "set MIL_CHROMIUM to a Chromium binary")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=exe,
            headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1600, "height": 1100},
            device_scale_factor=1)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()
