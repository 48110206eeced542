"""Rectified flow (Flux, SD3) as one more prediction over the core's schedule: the flow sample,
the velocity → ε conversion and the DDIM sampler are exact for a model that knows the data."""
import pytest
import torch

from advanchor_core.denoiser import TorchDenoiser
from advanchor_core.sampling import ddim_sample
from advanchor_core.schedule import NoiseSchedule


def shifted_sigmas(shift: float = 3.0, steps: int = 1000) -> torch.Tensor:
    """SD3's σ(t): the shifted linear flow time, ending at σ = 1."""
    t = torch.arange(1, steps + 1, dtype=torch.float64) / steps
    return shift * t / (1 + (shift - 1) * t)


class PointData(torch.nn.Module):
    """The exact velocity field when all data is one point x0*: u = (x_f − x0*) / σ."""

    def __init__(self, point: torch.Tensor, schedule: NoiseSchedule):
        super().__init__()
        self.point, self.schedule = point, schedule

    def forward(self, x_f, t, context):
        sigma = self.schedule.flow_sigma(t).float().reshape(-1, 1, 1, 1)
        return (x_f - self.point) / sigma


def test_the_flow_schedule_draws_the_flow_sample():
    sigmas = shifted_sigmas()
    s = NoiseSchedule.rectified_flow(sigmas)
    assert s.num_timesteps == 999   # σ = 1 has no signal and is left out
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 998])
    sigma = sigmas[t].float().reshape(-1, 1, 1, 1)
    assert torch.allclose(s.flow_sigma(t), sigmas[t], atol=2e-5)  # ᾱ is kept in float32
    flow = s.flow_input(s.q_sample(z0, t, eps), t)
    assert torch.allclose(flow, (1 - sigma) * z0 + sigma * eps, atol=1e-5)


def test_a_flow_model_gives_the_noise_it_was_drawn_with():
    s = NoiseSchedule.rectified_flow(shifted_sigmas())
    g = torch.Generator().manual_seed(1)
    point, eps = torch.randn(1, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([3, 400, 990])
    den = TorchDenoiser(PointData(point, s), s, prediction="flow")
    x_t = s.q_sample(point.expand(3, -1, -1, -1), t, eps)
    assert torch.allclose(den(x_t, t, torch.zeros(3, 1, 1)), eps, atol=1e-4)
    wrong = TorchDenoiser(PointData(point, s), s, prediction="v")
    assert not torch.allclose(wrong(x_t, t, torch.zeros(3, 1, 1)), eps, atol=1e-2)


def test_ddim_from_noise_lands_on_the_data_of_a_flow_model():
    s = NoiseSchedule.rectified_flow(shifted_sigmas())
    g = torch.Generator().manual_seed(2)
    point = torch.randn(1, 4, 8, 8, generator=g)
    den = TorchDenoiser(PointData(point, s), s, prediction="flow")
    cond = torch.zeros(1, 1, 1)
    x0 = ddim_sample(den, cond, cond, x_T=torch.randn(2, 4, 8, 8, generator=g), steps=10)
    assert torch.allclose(x0, point.expand(2, -1, -1, -1), atol=1e-3)


def test_flow_sigmas_outside_the_unit_interval_are_refused():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        NoiseSchedule.rectified_flow(torch.tensor([0.0, 0.5, 1.0]))
