"""Headless Chromium (Debian's package) for tests of the pages mlci writes: a screenshot of a
page from a file or a URL, the console lines it logged, and a local server that sends
Jenkins' default Content-Security-Policy with every response (as Jenkins serves archived
HTML and HTML Publisher reports)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", "--enable-logging=stderr", "--v=0",
         # every tile rastered before a frame is drawn: without it the screenshot sometimes caught
         # the page with its last tiles still blank (the bottom 75 px, one run in 3 to 20)
         "--run-all-compositor-stages-before-draw"]


def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        from conftest import missing_part

        missing_part("Chromium", "tests/setup.d/40-chromium.sh installs it")
    return exe


def render(url: str, out: Path, size: str = "1280,1600") -> list[str]:
    """Screenshot ``url`` into ``out``; return the page's console lines."""
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                            f"--screenshot={out}", url], capture_output=True, text=True, timeout=120)
    assert out.is_file(), f"chromium wrote no screenshot of {url}: {r.stderr[-2000:]}"
    return [line for line in r.stderr.splitlines() if ":CONSOLE" in line]


def dom(url: str) -> str:
    """The page's DOM after loading, as Chromium serializes it."""
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=120)
    return r.stdout


def pixels(png: Path):  # noqa: ANN201
    from matplotlib.image import imread

    return imread(png)


class _CspHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", JENKINS_CSP)
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def csp_server() -> Iterator:  # noqa: ANN401
    """``serve(directory) -> base URL``: serves files with Jenkins' default CSP."""
    servers = []

    def serve(directory: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 functools.partial(_CspHandler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def assert_same_under_jenkins_csp(directory: Path, page: str, base_url: str, tmp: Path) -> str:
    """The page looks the same from a file and served with Jenkins' CSP, and logs nothing to
    the console (a CSP violation is a console message). Returns the served DOM."""
    import numpy as np

    from_file = render((directory / page).resolve().as_uri(), tmp / "file.png")
    served = render(f"{base_url}/{page}", tmp / "served.png")
    assert from_file == [] and served == [], from_file + served
    a, b = pixels(tmp / "file.png"), pixels(tmp / "served.png")
    assert a.shape == b.shape
    differ = np.any(a != b, axis=-1)
    ys, xs = np.nonzero(differ)
    assert not differ.any(), (f"{page}: {differ.mean():.1%} of the pixels differ under the CSP, within "
                              f"x {xs.min()}-{xs.max()}, y {ys.min()}-{ys.max()} of the {a.shape[1]}x{a.shape[0]} page")
    return dom(f"{base_url}/{page}")
