"""Selection among cells drawn from a learned architecture distribution: by zero-cost proxies
(training-free, BaLeNAS-TF) or by validation accuracy with the shared supernet weights (PGNAS).

Works with any method whose guide can be sampled: a guide draw, replayed through the model's
``arch()``, gives mixing weights ``{cell_type: [E, K]}`` and the space derives a genotype from them.
Rules: ``"argmax"`` (no selection), ``"proxy:<name>"`` (highest score of one proxy),
``"proxy:<a>+<b>+..."`` (highest rank-sum: every proxy ranks the candidates, 1 = worst, ties get
their mean rank, an undefined score ranks last, and the ranks are added; a cell that many
proxies agree on wins over one that a single proxy favours) and ``"valid"`` (posterior-guided
sampling: highest accuracy of the trained supernet restricted to the cell, ``space.one_hot``, on
held-out batches, no fine-tuning, with BatchNorm statistics recomputed for each candidate; ties go to the
lower loss).

References:
    [1] M. Zhang, S. Pan, X. Chang, S. Su, J. Hu, G. Haffari, B. Yang. BaLeNAS: Differentiable
        Architecture Search via the Bayesian Learning Rule. CVPR 2022.
    [2] M. Abdelfattah, A. Mehrotra, L. Dudziak, N. Lane. Zero-Cost Proxies for Lightweight NAS.
        ICLR 2021.
    [3] Y. Zhou, X. Sun, C. Luo, Z.-J. Zha, W. Zeng. Posterior-Guided Neural Architecture Search. AAAI 2020.
    [4] Z. Guo, X. Zhang, H. Mu, W. Heng, Z. Liu, Y. Wei, J. Sun. Single Path One-Shot Neural Architecture
        Search with Uniform Sampling. ECCV 2020.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from pyro import poutine
from torch import nn

from pyronas.proxies import proxy_names, score
from pyronas.spaces import SearchSpace

ARGMAX = "argmax"
VALID = "valid"
PROXY_PREFIX = "proxy:"


def parse_rule(rule: str) -> list[str]:
    """Proxy names of a selection rule (empty for ``"argmax"`` and ``"valid"``); ``ValueError`` if malformed."""
    if rule in (ARGMAX, VALID):
        return []
    if not rule.startswith(PROXY_PREFIX) or not rule[len(PROXY_PREFIX) :].strip():
        raise ValueError(
            f"unknown selection rule {rule!r}; use 'argmax', 'valid', 'proxy:NAME' or 'proxy:NAME+NAME...'"
        )
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


def draw_candidates(
    model, guide: Callable, space: SearchSpace, samples: int, images: torch.Tensor, labels: torch.Tensor, *, seed: int
) -> list[str]:
    """The distinct genotypes among ``samples`` guide draws, in order of first draw, under their own RNG (``seed``)."""
    if samples < 1:
        raise ValueError(f"the number of samples must be >= 1, got {samples}")
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(seed)
        drawn = sample_cells(model, guide, space, samples, images, labels)
    return list(dict.fromkeys(drawn))


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
    """Draw ``samples`` cells from the guide and keep the best under ``rule`` (:func:`best_by_proxies`).

    Returns ``{"rule", "samples", "genotype", "candidates", "scores"}`` (and ``"rank_sum"`` for a combination
    of proxies), as :func:`best_by_proxies`. Sampling uses its own RNG state (``seed``), so it does not disturb
    the caller's. ``network`` sizes the scored networks (keywords of :func:`pyronas.proxies.score`).
    """
    if not parse_rule(rule):
        raise ValueError(f"select_cell needs a proxy rule, got {rule!r}; use select_by_validation for 'valid'")
    candidates = draw_candidates(model, guide, space, samples, images, labels, seed=seed)
    out = best_by_proxies(candidates, rule, images, labels, seed=seed, space=space, **network)
    return {"rule": rule, "samples": samples, **out}


def best_by_proxies(
    candidates: Sequence[str],
    rule: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    **network,
) -> dict:
    """The best of ``candidates`` (genotype strings) under a proxy ``rule`` (``"proxy:nwot+synflow"``).

    One proxy: its score, an undefined (NaN) score ranking last; several: their :func:`rank_sum`. Ties go to
    the earliest candidate. Returns ``{"genotype", "candidates", "scores"}`` with the scores in candidate order
    (``None`` where undefined), plus ``"rank_sum"`` for several proxies. Used by :func:`select_cell` on posterior
    draws and by the training-free baseline on uniformly random cells, so both score cells the same way.
    """
    names = parse_rule(rule)
    if not names:
        raise ValueError(f"best_by_proxies needs a proxy rule such as 'proxy:nwot+synflow', got {rule!r}")
    candidates = list(candidates)
    scores = [score(cell, names, images, labels, seed, **network) for cell in candidates]
    if len(names) == 1:
        merit = [-math.inf if math.isnan(s[names[0]]) else s[names[0]] for s in scores]
    else:
        merit = rank_sum(scores, names)
    best = max(range(len(candidates)), key=merit.__getitem__)  # first of equals: the earliest
    out = {
        "genotype": candidates[best],
        "candidates": candidates,
        "scores": [{k: None if math.isnan(v) else v for k, v in s.items()} for s in scores],
    }
    if len(names) > 1:
        out["rank_sum"] = merit
    return out


@contextlib.contextmanager
def batch_statistics(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in training mode (BatchNorm normalises with batch statistics); buffers and mode restored on exit."""
    buffers = [(b, b.detach().clone()) for b in net.buffers()]
    training = net.training
    net.train()
    try:
        yield net
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        net.train(training)


@contextlib.contextmanager
def recalibrated_batchnorm(
    net: nn.Module, weights: Mapping[str, torch.Tensor], batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> Iterator[nn.Module]:
    """``net`` in eval mode with its BatchNorm running statistics recomputed for one sub-network.

    Every BatchNorm's statistics are reset and re-estimated as the plain average over ``batches`` of
    ``net(images, weights)`` in training mode, no gradients (the sub-network's own statistics, as when
    evaluating a sub-network of a shared supernet [4]); buffers, momenta and mode are restored on exit.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    buffers = [(b, b.detach().clone()) for b in net.buffers()]
    momenta = [m.momentum for m in norms]
    training, single_path = net.training, getattr(net, "single_path", None)
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch counts the same
        if single_path:
            net.single_path = False  # calibrate the whole sub-network, not sampled paths
        net.train()
        with torch.no_grad():
            for images, _ in batches:
                net(images, {cell: w.to(images.device) for cell, w in weights.items()})
        net.eval()
        yield net
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        if single_path is not None:
            net.single_path = single_path
        net.train(training)


@torch.no_grad()
def supernet_accuracy(
    supernet: nn.Module,
    weights: Mapping[str, torch.Tensor],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    calibration: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[float, float]:
    """Accuracy in % and mean cross-entropy of ``supernet(images, weights)`` over ``batches``.

    BatchNorm (the running statistics were gathered under the search's mixed weights, not the candidate's)
    uses statistics recomputed for ``weights`` on ``calibration`` batches (:func:`recalibrated_batchnorm`),
    or, without them, each scored batch's own statistics. The supernet's buffers and mode are left as they were.
    """
    correct, loss, count = 0, 0.0, 0
    if calibration:
        context = recalibrated_batchnorm(supernet, weights, calibration)
    else:
        context = batch_statistics(supernet)
    with context:
        for images, labels in batches:
            logits = supernet(images, {cell: w.to(images.device) for cell, w in weights.items()})
            correct += int((logits.argmax(-1) == labels).sum())
            loss += float(F.cross_entropy(logits, labels, reduction="sum"))
            count += len(labels)
    return 100.0 * correct / count, loss / count


def select_by_validation(
    model,
    guide: Callable,
    space: SearchSpace,
    supernet: nn.Module,
    samples: int,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    seed: int = 0,
    calibration: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict:
    """Posterior-guided sampling [3]: draw ``samples`` cells, keep the one the shared weights classify best.

    Each distinct candidate is scored by :func:`supernet_accuracy` with ``space.one_hot(genotype)``
    on ``batches`` (held-out, un-augmented ``(images, labels)`` pairs), its BatchNorm statistics
    recomputed on ``calibration`` batches (training images; without them, each scored batch's own);
    the best accuracy wins, ties go to the lower loss, then to the earlier draw. Returns ``{"rule": "valid",
    "samples", "batches", "calibration_batches", "genotype", "candidates", "scores"}`` with
    ``scores[i] = {"accuracy", "loss"}``.
    """
    if not batches:
        raise ValueError("validation selection needs at least one batch; raise select_batches")
    images, labels = batches[0]
    candidates = draw_candidates(model, guide, space, samples, images, labels, seed=seed)
    scores = [supernet_accuracy(supernet, space.one_hot(cell), batches, calibration) for cell in candidates]
    best = max(range(len(candidates)), key=lambda i: (scores[i][0], -scores[i][1]))
    return {
        "rule": VALID,
        "samples": samples,
        "batches": len(batches),
        "calibration_batches": len(calibration or ()),
        "genotype": candidates[best],
        "candidates": candidates,
        "scores": [{"accuracy": acc, "loss": loss} for acc, loss in scores],
    }
