"""Every notebook's widgets, driven in JupyterLab in headless Chromium (issue 9).

One JupyterLab server on 127.0.0.1 (isolated config, a token, a copy of the notebooks), one Chromium through
Playwright, one page per widget. For each widget: run all cells (smoke profile, offline), press End on its
first slider, and assert that the figure's pixels and the caption changed. Requests to anything but loopback
are blocked, and fail the test. Screenshots land in tests/browser/screenshots/ for a person to look at.
Needs Debian's chromium (`make test` installs it when it can); skipped when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHOTS = HERE / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "d2lx-browser-test"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MIN_CHANGED_PIXELS = 300

# (notebook, index of the widget among the notebook's widgets, what it shows)
WIDGETS = [
    ("01_image_augmentation.ipynb", 0, "augmentation explorer"),
    ("03_bounding_boxes.ipynb", 0, "IoU playground"),
    ("04_anchor_boxes.ipynb", 0, "anchor explorer"),
    ("04_anchor_boxes.ipynb", 1, "assignment view"),
    ("04_anchor_boxes.ipynb", 2, "NMS playground"),
    ("05_multiscale_detection.ipynb", 0, "multiscale view"),
    ("07_ssd.ipynb", 0, "detection threshold"),
    ("08_rcnn.ipynb", 0, "RoI grid"),
    ("09_yolo.ipynb", 0, "YOLO grid and NMS"),
    ("10_semantic_segmentation.ipynb", 0, "class overlay"),
    ("11_transposed_conv.ipynb", 0, "transposed convolution"),
    ("12_fcn.ipynb", 0, "prediction vs truth"),
    ("13_neural_style.ipynb", 0, "style weights"),
]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")
from PIL import Image, ImageChops  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _isolated_env(home: Path) -> dict:
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "cfg"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "run"),
                     ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")]:
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env.update(JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1", D2LX_PROFILE="smoke", D2LX_OFFLINE="1")
    env.pop("MPLBACKEND", None)  # the notebooks use the inline backend
    settings = home / "cfg/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    return env


def _api(base: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab on a copy of the notebooks (so that autosave never touches the repository's files)."""
    work = tmp_path_factory.mktemp("lab")
    notebooks = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={notebooks}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = work / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=_isolated_env(work / "home"), cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                _api(base, "/api/status")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield base
    finally:  # stop the server we started, by its process id, even when a test failed
        if proc.poll() is None:
            try:
                _api(base, "/api/shutdown", "POST")
                proc.wait(timeout=20)
            except Exception:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    blocked: list[str] = []
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1100})
        context.set_default_timeout(90_000)

        def only_loopback(route):
            if urlparse(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        yield context, blocked
        context.close()


@pytest.fixture(scope="session")
def opened(lab, browser):
    """One page per notebook, all cells run once; reused by that notebook's widget tests."""
    context, blocked = browser
    pages = {}
    yield lambda nb: pages[nb] if nb in pages else pages.setdefault(nb, _open_and_run(context, lab, nb))
    for page in pages.values():
        page.close()
    for session in _api(lab, "/api/sessions"):
        _api(lab, f"/api/sessions/{session['id']}", "DELETE")


def _open_and_run(context, base: str, notebook: str):
    page = context.new_page()
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={TOKEN}")
    expect = playwright_api.expect
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    # all cells done: the last code cell has an execution number, and the kernel is idle again
    expect(panel.locator(".jp-CodeCell .jp-InputArea-prompt").last).to_have_text(re.compile(r"\[\d+\]:"),
                                                                              timeout=180_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    return page


def _shot(locator, path: Path):
    locator.screenshot(path=str(path))
    return Image.open(path).convert("RGB")


def _changed(a, b, threshold: int = 16) -> int:
    if a.size != b.size:
        return a.size[0] * a.size[1]
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > threshold else 0)
    return diff.histogram()[255]


def _stable(locator, path: Path, differs_from=None, timeout: float = 30, settle: float = 1.0):
    """A screenshot that is not blank, differs from ``differs_from`` and stays the same for ``settle`` s."""
    start, last, since = time.monotonic(), None, 0.0
    while time.monotonic() - start < timeout:
        try:
            img = _shot(locator, path)
        except playwright_api.Error:  # the <img> was replaced mid-screenshot
            img = None
        if img is None or img.convert("L").getextrema()[0] > 240 or (
                differs_from is not None and _changed(img, differs_from) == 0):
            last = None
        elif last is not None and _changed(img, last) == 0:
            if time.monotonic() - since >= settle:
                return img
        else:
            last, since = img, time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"the figure did not {'change and ' if differs_from else ''}settle in {timeout} s ({path})")


@pytest.mark.parametrize(("notebook", "index", "what"), WIDGETS, ids=[f"{n[:2]}-{w}" for n, _, w in WIDGETS])
def test_slider_redraws_the_figure(opened, browser, notebook, index, what):
    _, blocked = browser
    SHOTS.mkdir(exist_ok=True)
    stem = f"{Path(notebook).stem}_{index}"
    page = opened(notebook)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    widget = panel.locator(".widget-vbox").nth(index)
    widget.scroll_into_view_if_needed()
    figure = widget.locator(".widget-output img").first
    caption = widget.locator(".widget-html-content").last
    playwright_api.expect(figure).to_be_visible(timeout=60_000)
    before = _stable(figure, SHOTS / f"{stem}_before.png", settle=0.5)
    caption_before = caption.inner_text()
    slider = widget.locator(".widget-slider [role=slider]").first
    slider.focus()
    page.keyboard.press("End")  # the slider's maximum
    after = _stable(figure, SHOTS / f"{stem}_after.png", differs_from=before)
    page.screenshot(path=str(SHOTS / f"{stem}_page.png"))
    changed = _changed(before, after)
    print(f"\n[{what}] {changed} of {after.size[0]}x{after.size[1]} figure pixels changed; "
          f"caption {caption_before!r} -> {caption.inner_text()!r}")
    assert changed > MIN_CHANGED_PIXELS, f"{what}: the figure barely changed ({changed} px)"
    assert caption.inner_text() != caption_before, f"{what}: the caption did not follow the slider"
    errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert all("Warning" in t for t in errors.all_inner_texts()), "a cell wrote an error"
    assert not blocked, f"the page tried to reach the network: {blocked}"
