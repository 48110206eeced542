"""The pack in ComfyUI's own page, driven by headless Chromium: the template browser lists the
workflows, each loads onto the canvas and the frontend turns it into the same API prompt as the
tests' converter, and one is queued from the page and runs to the end with its images shown.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` client
(`scripts/install_browser.sh`). Without them the test skips, unless CI is set: then it fails.
Screenshots go to the test's temporary folder; with ADVANCHOR_UPDATE_PICTURES=1 they also
replace the committed pictures (docs/*.png, workflows/<name>.png and .jpg).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.workflows.conftest import REPO, WORKFLOWS, load_workflow, shrink, workflow_names
from scripts.ui_format import ui_to_api

MAX_PICTURE = 500_000
PACK_NODES = {"AdvAnchorConcept", "AdvAnchorUnlearn", "AdvAnchorEraseClosedForm"}
RUN_IN_PAGE = "erase_artist_style_compare"


def missing_tools() -> str | None:
    absent = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        absent.append("selenium (Python)")
    return ", ".join(absent) or None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    absent = missing_tools()
    if absent:
        message = f"browser test needs {absent}: run scripts/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tmp_path_factory.mktemp("chromium_profile")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1920,1200", "--hide-scrollbars",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


class Page:
    def __init__(self, driver, server):
        self.driver, self.server = driver, server

    def js(self, body: str, *args):
        """Run `body` as an async function (arguments in `args`) and return its result."""
        script = ("const done = arguments[arguments.length - 1];"
                  f"(async (args) => {{ {body} }})(Array.from(arguments).slice(0, -1))"
                  ".then(done, e => done({__error: String(e && e.stack || e)}));")
        out = self.driver.execute_async_script(script, *args)
        if isinstance(out, dict) and "__error" in out:
            raise AssertionError(f"in the page: {out['__error']}")
        return out

    def wait_for(self, condition: str, timeout: float = 60.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.driver.execute_script(f"try {{ return !!({condition}); }} catch (e) {{ return null; }}")
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"page never had: {condition}")

    def open(self) -> None:
        # a returning user: no first-run template dialog, no minimap, no "Nodes 2.0" banner
        status, _ = self.server.post("/settings", {"Comfy.TutorialCompleted": True,
                                                   "Comfy.Minimap.Visible": False,
                                                   "Comfy.Workflow.WorkflowTabsPosition": "Sidebar",
                                                   "LiteGraph.Canvas.MinFontSizeForLOD": 0})
        assert status == 200
        self.driver.get(self.server.url)
        self.driver.execute_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        self.driver.get(self.server.url)
        self.wait_for("window.app && app.graph && window.LiteGraph && "
                      "LiteGraph.registered_node_types['AdvAnchorUnlearn'] && app.canvas")

    def load(self, workflow: dict, name: str = "workflow") -> None:
        self.js("await window.app.loadGraphData(args[0], true, true, args[1]); "
                "window.app.extensionManager.command.execute('Comfy.Canvas.FitView');"
                "await new Promise(r => setTimeout(r, 700)); app.canvas.setDirty(true, true);",
                workflow, name)

    def click_text(self, text: str, timeout: float = 30.0) -> None:
        """Click the innermost element whose whole text is `text` (through its clickable
        ancestor), once the page shows it."""
        find = ("[...document.querySelectorAll('body *')].find(e => e.children.length === 0 && "
                f"e.textContent.trim() === {json.dumps(text)})")
        self.wait_for(find, timeout)
        self.js(f"const e = {find}; (e.closest('a,button,li,[role=button],[role=option]') || e).click();")

    def prompt(self) -> dict:
        return self.js("const p = await app.graphToPrompt(); return p.output;")

    def screenshot(self) -> Image.Image:
        return Image.open(io.BytesIO(self.driver.get_screenshot_as_png())).convert("RGB")


@pytest.fixture(scope="module")
def page(browser, server):
    p = Page(browser, server)
    p.open()
    return p


def small_png(img: Image.Image, workflow: dict | None = None) -> bytes:
    """A palette PNG (≤ MAX_PICTURE), with the workflow embedded as ComfyUI does, so dropping
    the picture onto the canvas loads it."""
    info = PngImagePlugin.PngInfo()
    if workflow is not None:
        info.add_text("workflow", json.dumps(workflow))
    for width in (img.width, 1400, 1200, 1000):
        scaled = img if width == img.width else img.resize((width, round(img.height * width / img.width)),
                                                           Image.LANCZOS)
        buf = io.BytesIO()
        scaled.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True, pnginfo=info)
        if buf.tell() <= MAX_PICTURE:
            return buf.getvalue()
    raise AssertionError("screenshot does not fit in 500 KB")


def thumbnail(img: Image.Image) -> bytes:
    thumb = img.copy()
    thumb.thumbnail((640, 400), Image.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=82, optimize=True)
    return buf.getvalue()


def keep(tmp: Path, data: bytes, *targets: Path) -> Path:
    """Write a picture to the test's folder, and over the committed one when asked to."""
    assert len(data) <= MAX_PICTURE
    first = tmp / targets[0].name
    first.write_bytes(data)
    if os.environ.get("ADVANCHOR_UPDATE_PICTURES") == "1":
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return first


def not_blank(img: Image.Image) -> None:
    colours = img.convert("L").resize((200, 125)).getcolors(256 * 256)
    assert colours is None or len(colours) > 20, "screenshot is (almost) one colour"


def declared_inputs(inputs: dict, info: dict) -> dict:
    """The inputs the server's node declares: the frontend adds display-only widgets of its own
    (Preview Any's "preview" text box) that the server ignores."""
    names = {n for section in info["input"].values() if isinstance(section, dict) for n in section}
    return {k: v for k, v in inputs.items() if k in names}


@pytest.mark.parametrize("name", workflow_names())
def test_workflow_loads_and_the_page_builds_the_same_prompt(page, object_info, name, tmp_path):
    workflow = load_workflow(name)
    page.load(workflow, name)
    types = set(page.driver.execute_script("return app.graph._nodes.map(n => n.type)"))
    assert types == {n["type"] for n in workflow["nodes"]}
    missing = page.driver.execute_script(
        "return app.graph._nodes.filter(n => !LiteGraph.registered_node_types[n.type]).map(n => n.type)")
    assert not missing, f"the page does not know {missing}"
    if any(n["type"].startswith("AdvAnchor") for n in workflow["nodes"]):
        assert types & PACK_NODES
    shot = page.screenshot()
    not_blank(shot)
    keep(tmp_path, small_png(shot, workflow), WORKFLOWS / f"{name}.png")
    keep(tmp_path, thumbnail(shot), WORKFLOWS / f"{name}.jpg")
    # what the frontend would queue == what the tests' converter queues
    for variant in (workflow, shrink(workflow, object_info)):
        page.load(variant)
        from_page = {k: {"class_type": v["class_type"],
                         "inputs": declared_inputs(v["inputs"], object_info[v["class_type"]])}
                     for k, v in page.prompt().items()}
        assert from_page == ui_to_api(variant, object_info)


def test_queue_from_the_page_runs_and_shows_the_results(page, server, object_info, tmp_path):
    workflow = shrink(load_workflow(RUN_IN_PAGE), object_info)
    for node in workflow["nodes"]:      # fresh seeds: not a cached result from another test
        if node["type"] == "AdvAnchorUnlearn":
            from scripts.ui_format import set_widget
            set_widget(node, object_info[node["type"]], "seed", int(time.time()) % 100000)
    page.load(workflow, RUN_IN_PAGE)
    before = set(server.get("/history"))
    page.js("await app.queuePrompt(0, 1);")
    deadline = time.time() + 240
    entry = None
    while time.time() < deadline and entry is None:
        new = {k: v for k, v in server.get("/history").items() if k not in before}
        entry = next((v for v in new.values() if v["status"].get("completed") is not None), None)
        time.sleep(0.5)
    assert entry is not None, "the prompt queued from the page did not finish"
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    saver = next(n["id"] for n in workflow["nodes"] if n["type"] == "SaveImage")
    # the page shows the results: the Save Image node has its image, the loss curve too
    page.wait_for(f"(app.graph.getNodeById({saver}).imgs || []).length > 0 && "
                  f"app.graph.getNodeById({saver}).imgs[0].complete", 60)
    page.js("window.app.extensionManager.command.execute('Comfy.Canvas.FitView');"
            "await new Promise(r => setTimeout(r, 1000)); app.canvas.setDirty(true, true);")
    shot = page.screenshot()
    not_blank(shot)
    keep(tmp_path, small_png(shot), REPO / "docs" / f"{RUN_IN_PAGE}_after_run.png")


def test_template_browser_lists_every_workflow(page, server, tmp_path):
    listed = server.get("/workflow_templates")
    pack = [k for k, v in listed.items() if set(v) & set(workflow_names())]
    assert len(pack) == 1, listed
    names = listed[pack[0]]
    assert sorted(names) == sorted(workflow_names()), "each workflow listed exactly once"
    for name in names:   # served to the template browser, with the thumbnail it asks for
        with urllib.request.urlopen(
                f"{server.url}/api/workflow_templates/{pack[0]}/{name}.json") as r:
            assert json.loads(r.read()) == load_workflow(name)
        with urllib.request.urlopen(
                f"{server.url}/api/workflow_templates/{pack[0]}/{name}.jpg") as r:
            assert r.headers["Content-Type"] == "image/jpeg"
    page.js("await app.extensionManager.command.execute('Comfy.BrowseTemplates');")
    # the pack's own entry under Extensions, as a user picks it: newer frontends (1.37, ComfyUI
    # 0.12.1) open on core's template library, not on every template
    page.click_text(pack[0])
    for name in names:
        page.wait_for(f"document.body.innerText.includes({json.dumps(name)})", 30)
    time.sleep(1.5)
    shot = page.screenshot()
    keep(tmp_path, small_png(shot), REPO / "docs" / "template_browser.png")


# the widgets each training node shows by default: what a user decides (sockets aside)
DEFAULT_VIEW = {"AdvAnchorUnlearn": ["method", "iterations", "parameters", "seed", "more_concepts"],
                "AdvAnchorSearchAnchor": ["draws", "seed"],
                "AdvAnchorAttackErasure": ["steps", "seed"]}


def test_training_nodes_fold_their_expert_settings(page, server, object_info, tmp_path):
    """Expert widgets are sent as advanced, and the newest frontend's node design (Nodes 2.0)
    shows a node with them folded behind "Show advanced inputs"."""
    server.post("/settings", {"Comfy.VueNodes.Enabled": True})
    try:
        page.open()
        page.load({"nodes": [], "links": [], "version": 0.4}, "folded")
        for i, kind in enumerate(DEFAULT_VIEW):
            page.js("const n = LiteGraph.createNode(args[0]); n.pos = [80 + 340 * args[1], 100];"
                    "app.graph.add(n);", kind, i)
        page.wait_for("document.querySelectorAll('[data-node-id]').length === 3")
        page.js("await app.extensionManager.command.execute('Comfy.Canvas.FitView');"
                "await new Promise(r => setTimeout(r, 1000));")
        box = page.driver.execute_script(
            "const r = [...document.querySelectorAll('[data-node-id]')].map(e => e.getBoundingClientRect());"
            "return [Math.min(...r.map(b => b.left)), Math.min(...r.map(b => b.top)),"
            " Math.max(...r.map(b => b.right)), Math.max(...r.map(b => b.bottom))];")
        scale = page.driver.execute_script("return window.devicePixelRatio")
        shot = page.screenshot().crop(tuple(round(v * scale + d) for v, d in zip(box, (-20, -20, 20, 20))))
        for node_id, (kind, shown) in enumerate(DEFAULT_VIEW.items(), 1):
            lines = lambda: set(page.driver.execute_script(  # noqa: E731
                f"return document.querySelector('[data-node-id=\"{node_id}\"]').innerText.split('\\n')"
                ".map(s => s.trim())"))
            every = {n for section in object_info[kind]["input"].values() if isinstance(section, dict)
                     for n, (_, *opts) in section.items() if opts and isinstance(opts[0], dict)
                     and "default" in opts[0]}
            folded = lines()
            assert set(shown) <= folded and not (every - set(shown)) & folded, kind
            page.js(f"document.querySelector('[data-node-id=\"{node_id}\"] "
                    "[data-testid=advanced-inputs-button]').click(); await new Promise(r => setTimeout(r, 500));")
            assert every <= lines(), kind
    finally:
        server.post("/settings", {"Comfy.VueNodes.Enabled": False})
    not_blank(shot)
    keep(tmp_path, small_png(shot), REPO / "docs" / "training_nodes_folded.png")
