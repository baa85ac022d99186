"""JupyterLab as a reader meets it, checked in a real browser (``make lab-check``; tests/test_lab.py).

Starts the project's JupyterLab (the venv's, with the project's server config: notebooks of
``notebooks/`` are saved clean by :mod:`lib.nbclean`) on a free loopback port, drives Debian's headless
Chromium through chromedriver (selenium) and checks what a reader relies on:

1. ``notebooks/04-align.ipynb`` opens on the project's kernel (``ontoquant``, whose Python is this
   checkout's ``.venv``), its first cells run (the parameters cell and the params/data cell) without an
   error or a warning, and saving it leaves the file byte for byte as committed (``git status`` clean);
2. an executed notebook (a smoke run on the tiny model, under ``build/``) shows its figure inline: an
   image is rendered (decoded, not broken) and fits the notebook pane of a laptop-sized window;
3. that figure's PNG opens whole in Lab's image viewer (no wider than the pane);
4. Markdown tables as the compendium writes them (``lib.results.tables.markdown``; ``results/summary.md``
   too when ``make paper`` has written it) keep every number on one line in Lab's Markdown preview.

Screenshots of each go to ``build/lab-check/`` (``COMPENDIUM_BUILD`` moves it) for a person to look
at. Everything is bounded in time (``--timeout``), loopback only (server on 127.0.0.1, no proxy, no
news or update checks, Chromium's background networking off), and the server is stopped by its PID,
its kernels first, whatever happens.

Usage: ``python tools/labcheck.py --executed build/tiny/01-preprocess.ipynb [--timeout 300]``; exit 0 on
success, 1 on a failed check, 2 when Chromium or chromedriver is missing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
KERNEL = "ontoquant"
NOTEBOOK = "notebooks/04-align.ipynb"
FIRST_CELLS = 3  # the title (markdown), the parameters cell, the params + data cell
WINDOW = (1366, 900)  # a laptop screen
# Flags that work headless, as root, in a container, with no network but the loopback
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--no-proxy-server", "--hide-scrollbars")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_NAMES = ("chromedriver",)
INSTALL_HINT = "install Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"


class LabCheckError(AssertionError):
    """A check a reader would notice failed (the message says which and what was seen)."""


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables on PATH, or None when either is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = next((p for p in map(shutil.which, CHROMEDRIVER_NAMES) if p), None)
    return (browser, driver) if browser and driver else None


def free_port() -> int:
    """A TCP port free on the loopback now (the server is told not to try others)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_dir() -> Path:
    value = os.environ.get("COMPENDIUM_BUILD")
    return Path(value).expanduser().resolve() if value else ROOT / "build"


class Server:
    """A Jupyter server of this checkout's venv on 127.0.0.1 (``app``: ``lab`` or ``server``), on a free
    port, with a token of its own (a plain class: tests load this file without importing it as a module)."""

    def __init__(self, app: str = "lab", log_path: Path | None = None, root: Path = ROOT):
        self.app, self.log_path, self.root = app, log_path, Path(root)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        # the reader's own Lab settings and workspaces are neither read nor changed by a check
        self.home = Path(tempfile.mkdtemp(prefix="labcheck-lab-"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(VENV_BIN / "jupyter"), self.app, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}"]
        if self.app == "lab":  # nothing fetched from outside: no news, no update check, no extension index
            cmd += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                    "--LabApp.extension_manager=readonly", f"--LabApp.user_settings_dir={self.home / 'settings'}",
                    f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
                    "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: open a file with a given viewer
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self, timeout: float = 60.0) -> "Server":
        log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
        self.proc = subprocess.Popen(self.command(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabCheckError(f"jupyter {self.app} exited with {self.proc.returncode} before answering"
                                    + (f"; see {self.log_path}" if self.log_path else ""))
            with contextlib.suppress(OSError):
                self.api("GET", "/api/status")
                return self
            time.sleep(0.5)
        self.stop()
        raise LabCheckError(f"jupyter {self.app} did not answer on {self.url} within {timeout:.0f} s")

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0):
        """One call of the server's REST API (loopback, token auth, no proxy); the decoded JSON or None."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stop(self, timeout: float = 20.0) -> None:
        """Shut its kernels down, then stop the server by its PID (SIGTERM, then SIGKILL if it lingers)."""
        try:
            if self.proc is None or self.proc.poll() is not None:
                return
            with contextlib.suppress(Exception):
                for kernel in self.api("GET", "/api/kernels", timeout=5) or []:
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=10)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_status(path: str) -> str:
    """``git status --porcelain`` of one path ("" when clean, or when this is not a git checkout)."""
    out = subprocess.run(["git", "status", "--porcelain", "--", path], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


class Browser:
    """Headless Chromium driven by chromedriver, with a fresh profile and a laptop-sized window."""

    def __init__(self, chromium: str, chromedriver: str, log_path: Path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="labcheck-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            opts.add_argument(flag)
        opts.add_argument(f"--user-data-dir={self.profile}")
        opts.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
        # both paths given: selenium's driver manager (which would download a browser) is never run
        service = Service(executable_path=chromedriver, log_output=str(log_path))
        self.driver = webdriver.Chrome(options=opts, service=service)

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def wait(self, what: str, condition, deadline: float, poll: float = 0.5):
        """Poll ``condition(driver)`` until it is truthy (returned) or the deadline passes (an error naming
        ``what``); exceptions while the page changes count as not yet."""
        while True:
            with contextlib.suppress(Exception):
                value = condition(self.driver)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise LabCheckError(f"timed out waiting for {what}")
            time.sleep(poll)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)


JS_PANEL = "return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)')"
JS_PROMPTS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
return Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).map(c => {
  const p = c.querySelector('.jp-InputArea-prompt');
  return [c.classList.contains('jp-CodeCell') ? 'code' : 'other', p ? p.textContent.trim() : ''];
});"""
JS_OUTPUTS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const cells = Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).slice(0, arguments[0]);
return cells.map(c => Array.from(c.querySelectorAll('.jp-OutputArea-output')).map(o =>
  [o.getAttribute('data-mime-type') || '', o.textContent.slice(0, 300)]));"""
JS_IMAGES = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const pane = panel.querySelector('.jp-WindowedPanel-outer, .jp-Notebook').getBoundingClientRect();
return Array.from(panel.querySelectorAll('.jp-OutputArea-output img')).map(img => {
  const r = img.getBoundingClientRect();
  return {complete: img.complete, natural: img.naturalWidth, width: r.width, pane: pane.width};
});"""
JS_SCROLL_TO_IMAGE = """
const img = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img');
const r = img.getBoundingClientRect();
if (r.top >= 0 && r.top < window.innerHeight / 2) return true;
img.scrollIntoView({block: 'start'});
return false;"""
JS_KERNEL_NAME = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const el = panel.querySelector('.jp-Toolbar-kernelName');
return el ? el.textContent.trim() : '';"""


def session_of(server: Server, path: str) -> dict | None:
    return next((s for s in server.api("GET", "/api/sessions") or [] if s.get("path") == path), None)


def check_kernel(server: Server, browser: Browser, deadline: float) -> dict:
    """The notebook runs on the project's kernel, whose Python is this checkout's venv."""
    session = browser.wait(f"a kernel session for {NOTEBOOK}", lambda d: session_of(server, NOTEBOOK), deadline)
    name = session["kernel"]["name"]
    if name != KERNEL:
        raise LabCheckError(f"{NOTEBOOK} opened on kernel {name!r}, not the project's {KERNEL!r}")
    spec = server.api("GET", "/api/kernelspecs")["kernelspecs"].get(KERNEL)
    if spec is None:
        raise LabCheckError(f"kernel {KERNEL!r} is not registered in the venv: run `make setup`")
    python = Path(spec["spec"]["argv"][0])
    if not python.is_absolute() or ROOT / ".venv" not in python.parents:
        raise LabCheckError(f"kernel {KERNEL!r} runs {python}, not {ROOT / '.venv'}/bin/python")
    shown = browser.wait("the kernel name in the notebook toolbar",
                         lambda d: browser.js(JS_KERNEL_NAME), deadline)
    if KERNEL not in shown:
        raise LabCheckError(f"the toolbar shows kernel {shown!r}, not {KERNEL!r}")
    browser.wait("the kernel to be idle", lambda d: server.api("GET", f"/api/kernels/{session['kernel']['id']}")
                 ["execution_state"] == "idle", deadline)
    return {"kernel": name, "kernel_python": str(python), "toolbar": shown}


def run_first_cells(browser: Browser, n: int, deadline: float) -> list:
    """Select the first cell and press Shift+Enter ``n`` times, as a reader does; wait until every code
    cell among them shows an execution count, then return their outputs (mime type, text)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    first = browser.wait("the first cell", lambda d: d.find_element(
        By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell .jp-InputArea-prompt"),
        deadline)
    first.click()
    for _ in range(n):
        ActionChains(browser.driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        time.sleep(0.3)

    def counted(driver):
        prompts = browser.js(JS_PROMPTS)[:n]
        code = [p for kind, p in prompts if kind == "code"]
        return code and all(p.strip("[]: ").isdigit() for p in code) and prompts
    prompts = browser.wait(f"the first {n} cells to run (execution counts)", counted, deadline)
    outputs = browser.js(JS_OUTPUTS, n)
    for i, cell in enumerate(outputs):
        for mime, text in cell:
            if mime in ("application/vnd.jupyter.stderr", "application/vnd.jupyter.error") or "Warning" in text:
                raise LabCheckError(f"cell {i} of {NOTEBOOK} shows an error or a warning in Lab: {text[:200]!r}")
    return [{"prompt": p, "outputs": [m for m, _ in cell]} for (_, p), cell in zip(prompts, outputs)]


def save_and_compare(browser: Browser, before: str, deadline: float) -> None:
    """Save (Ctrl+S) after running, twice as autosave would: the file must stay the committed one, byte for
    byte, and Lab must not complain that it changed on disk (the hook rewrites what Lab sent)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    path = ROOT / NOTEBOOK
    for attempt in (1, 2):
        saved = path.stat().st_mtime_ns  # the server rewrites the file on every save, even unchanged
        ActionChains(browser.driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
        browser.wait(f"{NOTEBOOK} to be saved ({attempt})", lambda d: path.stat().st_mtime_ns != saved, deadline)
        time.sleep(1.0)
        dialog = browser.js("const d = document.querySelector('.jp-Dialog'); return d ? d.textContent : ''")
        if dialog:
            raise LabCheckError(f"saving {NOTEBOOK} in Lab opened a dialog: {dialog[:200]!r}")
        if sha256(path) != before:
            raise LabCheckError(f"saving {NOTEBOOK} from Lab after running cells changed the file (outputs or "
                                f"metadata kept): is the pre-save hook registered? run `make setup`")


def check_image(browser: Browser, deadline: float) -> list[dict]:
    """At least one output image, decoded and no wider than the notebook pane."""
    images = browser.wait("an inline image in the executed notebook",
                          lambda d: [i for i in browser.js(JS_IMAGES) if i["complete"] and i["natural"] > 0],
                          deadline)
    too_wide = [i for i in images if i["width"] > i["pane"] + 1]
    if too_wide:
        raise LabCheckError(f"inline images wider than the notebook pane: {too_wide}")
    return images


JS_VIEWER = """
const v = Array.from(document.querySelectorAll('#jp-main-dock-panel .jp-ImageViewer')).find(e => e.offsetParent);
const img = v && v.querySelector('img');
return img && img.complete && img.naturalWidth ? {natural: img.naturalWidth, pane: v.getBoundingClientRect().width}
                                               : null;"""
JS_WRAPPED_NUMBERS = """
const md = Array.from(document.querySelectorAll('#jp-main-dock-panel .jp-MarkdownViewer')).find(e => e.offsetParent);
if (!md || !md.querySelector('td')) return null;
const wrapped = [];
let numbers = 0;
for (const td of md.querySelectorAll('td')) {
  const text = td.textContent.trim();
  if (!/^[\u2212-]?[0-9][0-9.]*([\u00d7e][0-9\u2070-\u2079\u00b9\u00b2\u00b3\u207b+-]+)?$/.test(text)) continue;
  numbers += 1;
  const range = document.createRange(); range.selectNodeContents(td);
  const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
  if (lines > 1) wrapped.push(text);
}
return {numbers: numbers, wrapped: wrapped};"""


def open_with(browser: Browser, rel: str, factory: str, ready: str, deadline: float):
    """Open a file of the server root in a given viewer (``Markdown Preview``, ``Image``) through Lab's own
    command, as the file browser's *Open With* does; returns what the ``ready`` script returns."""
    browser.js("window.jupyterapp.commands.execute('docmanager:open', {path: arguments[0], factory: arguments[1]})",
               rel, factory)
    return browser.wait(f"{rel} in Lab's {factory} viewer", lambda d: browser.js(ready), deadline)


def probe_markdown(out_dir: Path) -> Path:
    """A table as the compendium writes its Markdown (the summary's layout: p-values beside long text)."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from lib.results.tables import markdown
    frame = pd.DataFrame({
        "section": ["Table 1", "Table 1", "Table 3"],
        "quantity": ["KRISSBERT INT8: Spearman p", "SapBERT-Large INT8: Spearman p", "1: latency speed-up"],
        "paper": [2.07e-97, 2.6e-99, 16.45], "ours": [1.5e-08, -0.0123, 0.38],
        "our system": ["tiny-random-BERT [onnx-int8-smoothquant] on public stand-in: STS-benchmark FR (test)"] * 3,
        "data tier (ours)": ["public stand-in"] * 3,
        "from": ["results/tiny/05-deft-task1-edrm.json", "results/tiny/05-deft-task1-edrm.json",
                 "results/tiny/03-quantize.json"]})
    path = out_dir / "table-probe.md"
    path.write_text("# Numbers as the summary writes them\n\n" + markdown(frame), encoding="utf-8")
    return path


def check_markdown(browser: Browser, rel: str, deadline: float) -> dict:
    seen = open_with(browser, rel, "Markdown Preview", JS_WRAPPED_NUMBERS, deadline)
    if not seen["numbers"]:
        raise LabCheckError(f"{rel}: no number found in its tables")
    if seen["wrapped"]:
        raise LabCheckError(f"{rel}: numbers wrap inside table cells in Lab's Markdown preview: {seen['wrapped']}")
    return {"file": rel, **seen}


def first_png(executed: Path, out_dir: Path) -> Path:
    """The executed notebook's first PNG output, as a file (what figures/ holds: save_figure shows its file)."""
    nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                path = out_dir / "figure-probe.png"
                path.write_bytes(base64.b64decode("".join(png) if isinstance(png, list) else png))
                return path
    raise LabCheckError(f"{executed}: no image output (a notebook that draws a figure must show it)")


def open_in_lab(browser: Browser, server: Server, rel: str, deadline: float) -> None:
    browser.driver.get(f"{server.url}/lab/tree/{rel}?token={server.token}")
    browser.wait(f"{rel} to open in Lab", lambda d: browser.js(JS_PANEL) and browser.js(
        "return document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel')"
        ".textContent") == Path(rel).name, deadline)
    dismiss_news(browser)


def dismiss_news(browser: Browser) -> None:
    """Answer Lab's first-run question (news from jupyter.org?) with No, as a reader would; the answer is
    kept in the check's own settings folder."""
    browser.js("const b = Array.from(document.querySelectorAll('.jp-toast-button')).find(b => b.title == 'No');"
               "if (b) b.click();")


def relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def stage(path: Path, out_dir: Path) -> str:
    """A file as a path Lab can open (under the server root): copied into ``out_dir`` when it lies elsewhere
    (a test's temporary build folder)."""
    path = Path(path).resolve()
    if ROOT in path.parents:
        return relative(path)
    if ROOT not in out_dir.resolve().parents:
        raise LabCheckError(f"{path} is outside the project and {out_dir} too: Lab cannot open it")
    target = out_dir / f"executed-{path.name}"
    shutil.copyfile(path, target)
    return relative(target)


def screenshot(browser: Browser, path: Path, report: dict) -> None:
    time.sleep(0.5)  # let the last layout settle
    browser.driver.save_screenshot(str(path))
    report["screenshots"].append(str(path))


def lab_check(executed: Path, out_dir: Path | None = None, timeout: float = 300.0) -> dict:
    """Run the whole check; returns what was seen (kernel, cells, images, tables, screenshots). Raises
    :class:`LabCheckError` on a failed check (a ``failure.png`` screenshot is taken first)."""
    found = find_browser()
    if found is None:
        raise FileNotFoundError(f"no Chromium/chromedriver on PATH: {INSTALL_HINT}")
    executed = Path(executed)
    if not executed.exists():
        raise FileNotFoundError(f"{executed}: no executed notebook (run a smoke run or `make lab-check`)")
    out_dir = Path(out_dir) if out_dir else build_dir() / "lab-check"
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out_dir.glob("*.png"), *out_dir.glob("executed-*.ipynb"), *out_dir.glob("*.md")]:
        old.unlink()  # a screenshot or a staged file of an earlier check never passes for this one's
    deadline = time.monotonic() + timeout
    report: dict = {"screenshots": []}
    before = sha256(ROOT / NOTEBOOK)
    status_before = git_status(NOTEBOOK)
    server = Server(log_path=out_dir / "jupyter.log")
    browser = None
    try:
        server.start(timeout=min(90.0, timeout))
        report["server"] = {"url": server.url, "pid": server.proc.pid}
        browser = Browser(*found, log_path=out_dir / "chromedriver.log")
        browser.driver.set_page_load_timeout(max(10.0, deadline - time.monotonic()))
        rel = stage(executed, out_dir)

        # 1. the committed notebook: project kernel, first cells run, saved clean
        open_in_lab(browser, server, NOTEBOOK, deadline)
        report.update(check_kernel(server, browser, deadline))
        report["cells"] = run_first_cells(browser, FIRST_CELLS, deadline)
        save_and_compare(browser, before, deadline)
        if git_status(NOTEBOOK) != status_before:
            raise LabCheckError(f"`git status` of {NOTEBOOK} changed after opening and running it in Lab")
        screenshot(browser, out_dir / "01-notebook-04-align.png", report)

        # 2. an executed notebook shows its figure inline
        open_in_lab(browser, server, rel, deadline)
        report["executed"] = rel
        report["images"] = check_image(browser, deadline)
        browser.wait("the inline image scrolled into view", lambda d: browser.js(JS_SCROLL_TO_IMAGE), deadline)
        screenshot(browser, out_dir / "02-executed-figure.png", report)

        # 3. the figure file opens whole in Lab's image viewer
        png = relative(first_png(executed, out_dir))
        report["image_viewer"] = open_with(browser, png, "Image", JS_VIEWER, deadline)
        if report["image_viewer"]["natural"] > report["image_viewer"]["pane"]:
            raise LabCheckError(f"{png} is wider than Lab's image viewer: {report['image_viewer']}")
        screenshot(browser, out_dir / "03-image-viewer.png", report)

        # 4. Markdown tables keep numbers on one line (the summary too, once `make paper` wrote it)
        tables = [relative(probe_markdown(out_dir))]
        summary = ROOT / "results" / "summary.md"
        tables += [relative(summary)] if summary.exists() else []
        report["markdown"] = [check_markdown(browser, t, deadline) for t in tables]
        screenshot(browser, out_dir / "04-markdown-table.png", report)
        return report
    except Exception:
        if browser is not None:
            with contextlib.suppress(Exception):
                browser.driver.save_screenshot(str(out_dir / "failure.png"))
        raise
    finally:
        if browser is not None:
            browser.quit()
        server.stop()
        (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executed", type=Path, required=True, help="an executed notebook with a figure (build/)")
    ap.add_argument("--out", type=Path, default=None, help="screenshots and logs (default build/lab-check/)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole check")
    args = ap.parse_args(argv)
    if find_browser() is None:
        print(f"lab-check: no Chromium/chromedriver on PATH; {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        report = lab_check(args.executed, args.out, args.timeout)
    except LabCheckError as err:
        print(f"lab-check FAILED: {err}", file=sys.stderr)
        return 1
    print(f"lab-check passed: kernel {report['kernel']} ({report['kernel_python']}); first cells "
          f"{[c['prompt'] for c in report['cells']]}; {NOTEBOOK} saved clean; {len(report['images'])} inline "
          f"image(s) in {report['executed']}; image viewer {report['image_viewer']}; Markdown numbers on one "
          f"line in {[m['file'] for m in report['markdown']]}")
    for shot in report["screenshots"]:
        print(f"  screenshot: {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
