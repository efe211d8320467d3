"""Jupyter Notebook (Debian's jupyter-notebook) driven by headless Chromium:
open a notebook with the wasmpy kernel, run all cells, find the outputs in
the page (an HTML table, an image, an error), keep a screenshot, shut down.
The server listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from conftest import ARTIFACTS, KERNEL, REPO

selenium = pytest.importorskip("selenium", reason="apt package python3-selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def notebook_server():
    if shutil.which("jupyter-notebook") is None:
        pytest.fail("jupyter-notebook is missing (apt package jupyter-notebook)")
    root = pathlib.Path(tempfile.mkdtemp(prefix="wasmpy-nb-"))
    shutil.copy(REPO / "notebooks" / "tour.ipynb", root / "tour.ipynb")
    port = free_port()
    token = "wasmpy-test-token"
    log = open(ARTIFACTS / "notebook-server.log", "w")
    proc = subprocess.Popen(
        ["jupyter-notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--NotebookApp.token={token}", f"--notebook-dir={root}", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("the notebook server did not start: " + (ARTIFACTS / "notebook-server.log").read_text()[-2000:])
            time.sleep(0.3)
    try:
        yield base, token
    finally:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def make_driver() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1400,2400", f"--user-data-dir={tempfile.mkdtemp(prefix='wasmpy-chrome-')}"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def test_notebook_in_browser(notebook_server):
    base, token = notebook_server
    driver = make_driver()
    try:
        driver.get(f"{base}/notebooks/tour.ipynb?token={token}")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.execute_script(
            "return window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()"))
        name = driver.execute_script("return Jupyter.notebook.kernel.name")
        assert name == KERNEL
        display = driver.execute_script("return Jupyter.kernelselector.current_selection")
        assert display == KERNEL
        driver.execute_script("Jupyter.notebook.execute_all_cells()")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "table#powers")))
        wait.until(lambda d: d.execute_script(
            "return Jupyter.notebook.get_cells().every(c => c.cell_type != 'code' || (c.input_prompt_number !== '*' && c.input_prompt_number !== null))"))
        rows = driver.find_elements(By.CSS_SELECTOR, "table#powers tr")
        assert len(rows) == 6
        imgs = driver.find_elements(By.CSS_SELECTOR, ".output_png img")
        assert imgs and imgs[0].get_attribute("src").startswith("data:image/png;base64,")
        errors = driver.find_elements(By.CSS_SELECTOR, ".output_error")
        assert errors and "ZeroDivisionError" in errors[0].text
        assert "step 3 of 3" in driver.page_source
        shot = ARTIFACTS / "notebook-tour.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10000
        # The kernel indicator and the Kernel > Change kernel menu show the
        # kernel by its display name.
        assert "wasmpy" in driver.execute_script("return document.querySelector('.kernel_indicator_name').textContent")
        menu = driver.execute_script("return Array.from(document.querySelectorAll('#menu-change-kernel-submenu a')).map(a => a.textContent)")
        assert "Python 3.13 (wasmpy)" in menu, menu
    finally:
        driver.quit()
