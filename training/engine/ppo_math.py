"""The mathematics of PPO for language models, as pure torch functions on [batch, tokens] tensors.

Every function takes a `mask` (1 for a completion token, 0 for padding) so rows of different
lengths share one tensor; masked positions never contribute to a mean, a variance or an
advantage. Conventions follow Ziegler et al. 2019 ("Fine-Tuning Language Models from Human
Preferences") and Schulman et al. 2017 (PPO), as trl's former PPOTrainer implemented them.
Torch is imported inside each function so this module is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of `values` over the positions where mask is 1 (over `dim`, or over everything)."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance over the masked positions; `unbiased` applies Bessel's correction n / (n - 1)."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        count = mask.sum()
        if count > 1:
            variance = variance * count / (count - 1)
    return variance


def masked_whiten(
    values: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8
) -> Tensor:
    """(values - mean) / std over the masked positions; with shift_mean=False the mean is put
    back, so only the scale changes (used on rewards, whose sign carries meaning). Masked
    positions come out as 0."""
    import torch

    mean = masked_mean(values, mask)
    whitened = (values - mean) * torch.rsqrt(masked_var(values, mask) + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(values.dtype)


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) over right-padded sequences.

    delta_t = r_t + gamma * V_{t+1} - V_t, with V = 0 after a sequence's last token;
    A_t = delta_t + gamma * lam * A_{t+1}; returns R_t = A_t + V_t. Returns (advantages,
    returns), both 0 on padding.
    """
    import torch

    mask = mask.to(values.dtype)
    values = values * mask
    rewards = rewards * mask
    length = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        # a padded position resets the recursion, so nothing flows back across a row's end
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    returns = (advantages + values) * mask
    return advantages, returns


def kl_k1(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor) -> Tensor:
    """Per-token k1 estimate of KL(policy || reference): log pi(y_t) - log ref(y_t) at the
    sampled token; unbiased for the sequence KL when the tokens were sampled from the policy."""
    return (logprobs - ref_logprobs) * mask.to(logprobs.dtype)


def token_rewards(scores: Tensor, kl: Tensor, mask: Tensor, kl_coef: float) -> Tensor:
    """Per-token rewards: -kl_coef * KL_t at every token, plus the sequence's score (the reward
    model's output) on its last real token."""
    import torch

    rewards = -kl_coef * kl * mask.to(kl.dtype)
    last = (mask.long().sum(dim=1) - 1).clamp(min=0)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += scores.to(rewards.dtype)
    return rewards


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. 2019, section 2.2: beta <- beta * (1 + K_beta * e_t) with
    e_t = clip(KL_t / target - 1, -0.2, 0.2) and K_beta = n_steps / horizon, so beta rises when
    the policy drifts further than `target` nats per sequence and falls when it stays closer."""

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current: float, n_steps: int) -> None:
        error = min(max(current / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_steps / self.horizon


@dataclass
class PolicyLoss:
    loss: Tensor
    clip_frac: Tensor
    """Share of tokens whose ratio was clipped (the clipped term was the larger loss)."""
    approx_kl: Tensor
    """k3 estimate of KL(old || new) = E[(r - 1) - log r], r = pi_new / pi_old (Schulman's
    approximation; non-negative, low variance)."""


def policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, cliprange: float
) -> PolicyLoss:
    """PPO's clipped surrogate: mean over tokens of max(-A r, -A clip(r, 1 - eps, 1 + eps))."""
    import torch

    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask)
    return PolicyLoss(loss, clip_frac, approx_kl)


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, cliprange_value: float
) -> tuple[Tensor, Tensor]:
    """Clipped value loss: 0.5 * mean max((V - R)^2, (V_clip - R)^2) with
    V_clip = V_old + clip(V - V_old, -c, c). Returns (loss, share of tokens clipped)."""
    import torch

    clipped_values = old_values + torch.clamp(
        values - old_values, -cliprange_value, cliprange_value
    )
    plain = (values - returns) ** 2
    clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(plain, clipped), mask)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > plain).float(), mask)
    return loss, clip_frac


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last dimension, per position."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)
