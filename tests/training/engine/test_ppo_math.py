"""PPO's mathematics against values worked out by hand (the working is in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from training.engine import ppo_math


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_gae_accumulates_discounted_td_errors_backwards() -> None:
    # gamma=1, lam=0.5, V=0.5 everywhere, reward 1 at the end:
    # t2: delta = 1 + 0 - 0.5 = 0.5                 A2 = 0.5
    # t1: delta = 0 + 0.5 - 0.5 = 0                 A1 = 0 + 0.5 * 0.5 = 0.25
    # t0: delta = 0                                 A0 = 0.5 * 0.25 = 0.125
    # returns = A + V = 0.625, 0.75, 1.0
    advantages, returns = ppo_math.gae(
        t([0, 0, 1]), t([0.5, 0.5, 0.5]), t([1, 1, 1]), gamma=1.0, lam=0.5
    )
    assert advantages[0].tolist() == pytest.approx([0.125, 0.25, 0.5])
    assert returns[0].tolist() == pytest.approx([0.625, 0.75, 1.0])


def test_gae_stops_at_a_rows_last_token() -> None:
    # gamma=0.5, lam=1, the third position is padding (its reward 9 and value 9 are ignored):
    # t1: delta = 2 + 0.5 * 0 - 1 = 1               A1 = 1
    # t0: delta = 1 + 0.5 * 1 - 1 = 0.5             A0 = 0.5 + 0.5 * 1 * 1 = 1.0
    # returns = 2, 2, 0
    advantages, returns = ppo_math.gae(t([1, 2, 9]), t([1, 1, 9]), t([1, 1, 0]), gamma=0.5, lam=1.0)
    assert advantages[0].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert returns[0].tolist() == pytest.approx([2.0, 2.0, 0.0])


def test_masked_mean_and_variance_ignore_padding() -> None:
    values, mask = t([1, 2, 3, 100]), t([1, 1, 1, 0])
    # mean (1 + 2 + 3) / 3 = 2; squared deviations 1, 0, 1: biased 2/3, unbiased 2/2 = 1
    assert ppo_math.masked_mean(values, mask).item() == pytest.approx(2.0)
    assert ppo_math.masked_var(values, mask, unbiased=False).item() == pytest.approx(2 / 3)
    assert ppo_math.masked_var(values, mask).item() == pytest.approx(1.0)


def test_whitening_centres_and_scales_and_can_keep_the_mean() -> None:
    values, mask = t([1, 2, 3, 100]), t([1, 1, 1, 0])
    # (x - 2) / sqrt(1) = -1, 0, 1; padding -> 0; keeping the mean adds 2 back
    assert ppo_math.masked_whiten(values, mask)[0].tolist() == pytest.approx(
        [-1, 0, 1, 0], abs=1e-6
    )
    kept = ppo_math.masked_whiten(values, mask, shift_mean=False)
    assert kept[0].tolist() == pytest.approx([1, 2, 3, 0], abs=1e-6)


def test_k1_kl_is_the_log_ratio_at_the_sampled_token() -> None:
    # -1 - (-1.5) = 0.5; -2 - (-1) = -1; padding 0
    kl = ppo_math.kl_k1(t([-1, -2, -3]), t([-1.5, -1, 0]), t([1, 1, 0]))
    assert kl[0].tolist() == pytest.approx([0.5, -1.0, 0.0])


def test_token_rewards_put_the_score_on_the_last_real_token() -> None:
    # -0.1 * 0.5 = -0.05; -0.1 * -1 + score 2 = 2.1; padding 0
    rewards = ppo_math.token_rewards(t(2.0)[0], t([0.5, -1.0, 0.3]), t([1, 1, 0]), kl_coef=0.1)
    assert rewards[0].tolist() == pytest.approx([-0.05, 2.1, 0.0])


def test_the_adaptive_kl_coefficient_follows_the_target() -> None:
    controller = ppo_math.AdaptiveKLController(0.2, target=6.0, horizon=10000)
    # KL 9 > target: error 9/6 - 1 = 0.5, clipped to 0.2; x (1 + 0.2 * 1000/10000) = 0.204
    controller.update(9.0, n_steps=1000)
    assert controller.value == pytest.approx(0.204)
    # KL 5.4 < target: error -0.1; x (1 - 0.1 * 0.1) = 0.204 * 0.99 = 0.20196
    controller.update(5.4, n_steps=1000)
    assert controller.value == pytest.approx(0.20196)
    fixed = ppo_math.FixedKLController(0.05)
    fixed.update(100.0, n_steps=1000)
    assert fixed.value == 0.05


def test_the_policy_loss_clips_the_ratio() -> None:
    # ratios 1.5, 0.5, 1.0 with advantages 1, 1, -2 and eps 0.2:
    # tok0: max(-1.5, -1.2) = -1.2 (clipped); tok1: max(-0.5, -0.8) = -0.5; tok2: max(2, 2) = 2
    # loss = (-1.2 - 0.5 + 2) / 3 = 0.1; clip fraction 1/3
    # k3: (0.5 - ln 1.5) + (-0.5 - ln 0.5) + 0 = 0.094535 + 0.193147 = 0.287682; / 3 = 0.095894
    logprobs = t([math.log(1.5), math.log(0.5), 0.0])
    out = ppo_math.policy_loss(logprobs, t([0, 0, 0]), t([1, 1, -2]), t([1, 1, 1]), 0.2)
    assert out.loss.item() == pytest.approx(0.1, abs=1e-6)
    assert out.clip_frac.item() == pytest.approx(1 / 3)
    assert out.approx_kl.item() == pytest.approx(0.095894, abs=1e-5)


def test_the_policy_loss_pushes_up_tokens_with_positive_advantage() -> None:
    logprobs = torch.zeros(1, 2, requires_grad=True)
    ppo_math.policy_loss(logprobs, t([0, 0]), t([1, -1]), t([1, 1]), 0.2).loss.backward()
    # d/dlogp of -A * exp(logp) / 2 at logp 0: -A / 2
    assert logprobs.grad[0].tolist() == pytest.approx([-0.5, 0.5])


def test_the_value_loss_clips_moves_away_from_the_old_values() -> None:
    # tok0: V 1, old 0, R 1: plain 0; clipped V 0.2 -> 0.64; max 0.64 (clipped)
    # tok1: V 0, old 0, R -1: plain 1, clipped 1; max 1
    # loss = 0.5 * (0.64 + 1) / 2 = 0.41; clip fraction 1/2
    loss, clip_frac = ppo_math.value_loss(t([1, 0]), t([0, 0]), t([1, -1]), t([1, 1]), 0.2)
    assert loss.item() == pytest.approx(0.41)
    assert clip_frac.item() == pytest.approx(0.5)


def test_entropy_of_a_uniform_distribution_is_log_n() -> None:
    # uniform over 4 tokens: ln 4 = 1.386294; a near one-hot is near 0
    assert ppo_math.entropy_from_logits(torch.zeros(4)).item() == pytest.approx(1.386294)
    assert ppo_math.entropy_from_logits(t(50.0, 0, 0, 0)).item() < 1e-6
