"""Training-free selection (BaLeNAS-TF): draw cells from a learned architecture distribution, keep
the one that zero-cost proxies rank best.

Works with any method whose guide can be sampled: a guide draw, replayed through the model's
``arch()``, gives mixing weights ``{cell_type: [E, K]}`` and the space derives a genotype from them.
Rules: ``"argmax"`` (no selection), ``"proxy:<name>"`` (highest score of one proxy) and
``"proxy:<a>+<b>+..."`` (highest rank-sum: every proxy ranks the candidates, 1 = worst, ties get
their mean rank, an undefined score ranks last, and the ranks are added; a cell that many
proxies agree on wins over one that a single proxy favours).

References:
    [1] M. Zhang, S. Pan, X. Chang, S. Su, J. Hu, G. Haffari, B. Yang. BaLeNAS: Differentiable
        Architecture Search via the Bayesian Learning Rule. CVPR 2022.
    [2] M. Abdelfattah, A. Mehrotra, L. Dudziak, N. Lane. Zero-Cost Proxies for Lightweight NAS.
        ICLR 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from pyro import poutine

from pyronas.proxies import proxy_names, score
from pyronas.spaces import SearchSpace

ARGMAX = "argmax"
PROXY_PREFIX = "proxy:"


def parse_rule(rule: str) -> list[str]:
    """Proxy names of a selection rule (empty for ``"argmax"``); raises ``ValueError`` if malformed."""
    if rule == ARGMAX:
        return []
    if not rule.startswith(PROXY_PREFIX) or not rule[len(PROXY_PREFIX) :].strip():
        raise ValueError(f"unknown selection rule {rule!r}; use 'argmax', 'proxy:NAME' or 'proxy:NAME+NAME...'")
    return proxy_names(rule[len(PROXY_PREFIX) :].replace("+", ","))


@torch.no_grad()
def sample_cells(model, guide: Callable, space: SearchSpace, samples: int, *guide_args) -> list[str]:
    """``samples`` genotypes drawn from the guide: ``space.derive(replay(model.arch, guide trace)())``."""
    cells = []
    for _ in range(samples):
        trace = poutine.trace(guide).get_trace(*guide_args)
        weights = poutine.replay(model.arch, trace=trace)()
        cells.append(space.derive({cell: w.detach().cpu() for cell, w in weights.items()}))
    return cells


def rank_sum(scores: Sequence[Mapping[str, float]], names: Sequence[str]) -> list[float]:
    """Sum over ``names`` of each candidate's rank (1 = lowest score; NaN ranks below everything)."""
    totals = [0.0] * len(scores)
    for name in names:
        values = [-math.inf if math.isnan(s[name]) else s[name] for s in scores]
        order = sorted(range(len(values)), key=values.__getitem__)
        i = 0
        while i < len(order):  # runs of equal values share their mean rank
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in order[i : j + 1]:
                totals[k] += (i + j) / 2 + 1
            i = j + 1
    return totals


def select_cell(
    model,
    guide: Callable,
    space: SearchSpace,
    rule: str,
    samples: int,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    **network,
) -> dict:
    """Draw ``samples`` cells from the guide and keep the best under ``rule``.

    Returns ``{"rule", "samples", "genotype", "candidates", "scores"}``: the distinct candidate
    genotypes in order of first draw, their proxy scores (``None`` where undefined) and, for a
    combination of proxies, their rank-sums under ``"rank_sum"``. Sampling uses its own RNG state
    (``seed``), so it does not disturb the caller's. ``network`` sizes the scored networks
    (keywords of :func:`pyronas.proxies.score`).
    """
    names = parse_rule(rule)
    if not names:
        raise ValueError("select_cell needs a proxy rule; 'argmax' needs no sampling")
    if samples < 1:
        raise ValueError(f"the number of samples must be >= 1, got {samples}")
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(seed)
        drawn = sample_cells(model, guide, space, samples, images, labels)
    candidates = list(dict.fromkeys(drawn))
    scores = [score(cell, names, images, labels, seed, space=space, **network) for cell in candidates]
    if len(names) == 1:
        merit = [-math.inf if math.isnan(s[names[0]]) else s[names[0]] for s in scores]
    else:
        merit = rank_sum(scores, names)
    best = max(range(len(candidates)), key=merit.__getitem__)  # first of equals: the earliest draw
    out = {
        "rule": rule,
        "samples": samples,
        "genotype": candidates[best],
        "candidates": candidates,
        "scores": [{k: None if math.isnan(v) else v for k, v in s.items()} for s in scores],
    }
    if len(names) > 1:
        out["rank_sum"] = merit
    return out
