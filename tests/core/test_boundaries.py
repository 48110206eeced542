"""The core stands alone: importing every module of it loads no ComfyUI (tests/test_rooms.py
checks the import statements), and the schedule's conversions are exact."""
import subprocess
import sys
from pathlib import Path

import torch

from advanchor_core.schedule import NoiseSchedule

CORE = Path(__file__).resolve().parents[2] / "advanchor_core"


def test_importing_the_core_loads_no_comfyui():
    code = ("import sys, pkgutil, importlib, advanchor_core as c\n"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(c.__path__, 'advanchor_core.')]\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'comfy_api')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=CORE.parent, check=True).stdout
    assert out.strip() == "[]"


def test_schedule_conversions_round_trip():
    s = NoiseSchedule.sd_linear()
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 999])
    x_t = s.q_sample(z0, t, eps)
    assert torch.allclose(s.eps_from_x0(x_t, t, z0), eps, atol=1e-3)
    a = s.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    v = a.sqrt() * eps - (1 - a).sqrt() * z0
    assert torch.allclose(s.eps_from_v(x_t, t, v), eps, atol=1e-5)
