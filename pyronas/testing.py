"""A test kit for method authors: :func:`check_method` runs a model + guide pair through what the engine relies on.

Call it from your plugin's tests (it raises ``AssertionError`` with a one-line reason, so pytest shows it)::

    from pyronas.testing import check_method
    from my_methods.gumbel import SPEC

    def test_gumbel_meets_the_contract():
        check_method(SPEC, space="nb201")

It checks, on tiny data (the embedded digits, a 4-channel supernet with one cell per stage, two epochs):

1. model and guide sample the same architecture sites, with the same batch and event shapes, and every guide
   draw lies in the support of the model's distribution at that site (its log-density is finite);
2. the pair has architecture parameters, and every floating tensor of model and guide outside the supernet
   (module state and plain ``pyro.param`` sites) differs between the checkpoints after epochs 1 and 2: nothing
   is silently left unlearned or unsaved;
3. a search interrupted after its first epoch and resumed from its checkpoint ends bit for bit where an
   uninterrupted one ends (checkpoint tensors, optimizer states, the log);
4. the pair derives a valid genotype of the space.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from pyronas.build import build_search
from pyronas.infer.checkpoint import SUPERNET_STATE
from pyronas.infer.primitives import LABELS
from pyronas.registry import MethodSpec, register
from pyronas.spaces import SearchSpace

TINY: dict[str, Any] = dict(
    dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, epochs=2, warmup_epochs=0,
    progress=False,
)  # fmt: skip


class RecordedBatches:
    """Batches (a :class:`~pyronas.data.Batches`) cast to ``dtype`` and kept per epoch in ``seen[epoch]``.

    For equivalence tests against reference code: run a search on ``RecordedBatches(parts.train, torch.float64)``,
    then feed the reference loop exactly the batches the search drew.
    """

    def __init__(self, batches, dtype: torch.dtype):
        self.batches, self.dtype, self.epoch = batches, dtype, None
        self.seen: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)
        self.epoch = epoch

    def __iter__(self):
        for images, labels in self.batches:
            batch = images.to(self.dtype), labels
            if self.epoch is not None:
                self.seen.setdefault(self.epoch, []).append(batch)
            yield batch


def _fail(spec: MethodSpec, what: str) -> AssertionError:
    return AssertionError(f"method {spec.name!r}: {what}")


def arch_sites(trace: poutine.Trace) -> dict[str, dict]:
    """The unobserved sample sites of a trace (the architecture variables), by name."""
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"] and name != LABELS and not site_is_subsample(site)
    }


def check_sites(spec: MethodSpec, model, guide, images: torch.Tensor, labels: torch.Tensor) -> list[str]:
    """Check (1): the sites model and guide sample agree in names, shapes and support; returns their names."""
    with torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(images, labels)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(images, labels)
    ours, theirs = arch_sites(model_trace), arch_sites(guide_trace)
    if not ours:
        raise _fail(spec, "the model samples no architecture site")
    if set(ours) != set(theirs):
        raise _fail(spec, f"model sites {sorted(ours)} differ from guide sites {sorted(theirs)}")
    for name, site in ours.items():
        p, q = site["fn"], theirs[name]["fn"]
        if (p.batch_shape, p.event_shape) != (q.batch_shape, q.event_shape):
            raise _fail(
                spec,
                f"site {name!r}: model shape {tuple(p.batch_shape)}+{tuple(p.event_shape)} differs from the "
                f"guide's {tuple(q.batch_shape)}+{tuple(q.event_shape)}",
            )
        value = theirs[name]["value"]
        if not bool(p.support.check(value).all()):
            raise _fail(spec, f"site {name!r}: a guide draw lies outside the model's support {p.support}")
        if not math.isfinite(float(p.log_prob(value).sum().detach())):
            raise _fail(spec, f"site {name!r}: the model's log-density of a guide draw is not finite")
    return sorted(ours)


def _architecture_tensors(state: Mapping) -> dict[str, torch.Tensor]:
    """Floating tensors of a checkpoint's model and guide outside the supernet, and its plain param-store entries."""
    out = {}
    for part in ("model", "guide"):
        for key, value in state[part].items():
            if not key.startswith(SUPERNET_STATE) and torch.is_tensor(value) and value.is_floating_point():
                out[f"{part}.{key}"] = value
    for name, entry in state.get("param_store", {}).items():
        out[f"param_store.{name}"] = entry["value"]
    return out


def _same(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (type(a) is type(b) and repr(a) == repr(b))  # objects without __eq__, e.g. constraints


def _comparable(state: dict) -> dict:
    """A checkpoint without what differs between two runs of one search (its folder, wall times)."""
    history = [{k: v for k, v in record.items() if k != "seconds"} for record in state["history"]]
    return {k: v for k, v in state.items() if k not in ("config", "history")} | {"history": history}


def _run(settings: dict, out_dir: Path, *, resume: bool = False, stop_after: int | None = None) -> dict:
    """Build and run a search in its own param store; ``stop_after`` epochs interrupts it like Ctrl-C."""
    parts = build_search(**settings, out_dir=str(out_dir), resume=resume)
    runner = parts.runner()
    if stop_after is not None:
        epoch = runner._epoch

        def interrupting():
            if runner.epoch >= stop_after:
                raise KeyboardInterrupt
            return epoch()

        runner._epoch = interrupting
    try:
        runner.run(resume=resume)
    except KeyboardInterrupt:
        if stop_after is None:
            raise
    with parts.activate():
        genotype = runner.genotype()
    return {"parts": parts, "genotype": genotype, "state": torch.load(out_dir / "checkpoint.pt", weights_only=False)}


def check_method(
    spec: MethodSpec | str, space: str | SearchSpace = "nb201", *, seed: int = 0, **settings: Any
) -> dict[str, Any]:
    """Run the checks of this module's docstring on ``spec`` (a :class:`MethodSpec` or a registered name).

    ``settings`` override the tiny search (``TINY``; any :func:`pyronas.api.search` keyword, e.g.
    ``method_options={...}``). An unregistered spec is registered for the duration of the process.
    Returns ``{"sites": [...], "parameters": [...], "genotype": str}``; raises ``AssertionError`` naming the
    first check that fails.
    """
    from pyronas.registry import METHODS

    if isinstance(spec, str):
        spec = METHODS[spec]
    elif spec.name not in METHODS:
        register(spec)
    space_name = space if isinstance(space, str) else space.name
    config = {**TINY, **settings, "method": spec.name, "space": space_name, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="pyronas-check-") as tmp:
        tmp = Path(tmp)
        parts = build_search(**config)
        with parts.activate():
            images, labels = next(iter(parts.valid))
            sites = check_sites(spec, parts.model, parts.guide, images, labels)
        full = _run(config, tmp / "full")
        first = _run(config, tmp / "cut", stop_after=1)["state"]
        before, after = _architecture_tensors(first), _architecture_tensors(full["state"])
        if not after:
            raise _fail(spec, "model and guide have no architecture parameter (nothing outside the supernet)")
        for name, value in after.items():
            if name in before and torch.equal(before[name], value):
                raise _fail(spec, f"{name} is the same after epochs 1 and 2 of a search: it is not learned")
        missing = sorted(set(after) - set(before))
        if missing:
            raise _fail(spec, f"{', '.join(missing)} appear only after the first epoch's checkpoint")
        resumed = _run(config, tmp / "cut", resume=True)
        ours, theirs = _comparable(resumed["state"]), _comparable(full["state"])
        if not _same(ours, theirs):
            differ = [k for k in theirs if k not in ours or not _same(ours[k], theirs[k])]
            raise _fail(spec, f"a resumed search differs from an uninterrupted one in {', '.join(differ)}")
        search_space = full["parts"].space
        try:
            canonical = search_space.validate(full["genotype"])
        except ValueError as e:
            raise _fail(spec, f"derives an invalid genotype {full['genotype']!r}: {e}") from None
        if canonical != full["genotype"]:
            raise _fail(spec, f"derives {full['genotype']!r}, not in the space's canonical form {canonical!r}")
    pyro.clear_param_store()
    return {"sites": sites, "parameters": sorted(after), "genotype": full["genotype"]}


def displacement_difference(start, ours, theirs) -> float:
    """How far two runs from a shared ``start`` moved apart: ``max|d_ours - d_theirs| / max|d_theirs|``, where
    ``d_x = x - start``, over a tensor or a list of tensors (flattened together).

    The measure of the reference-step equivalence tests: relative to how far the reference moved, so it does not
    depend on the parameters' scale. Raises ``AssertionError`` if the reference did not move at all.
    """
    start, ours, theirs = (
        torch.cat([t.flatten() for t in (x if isinstance(x, (list, tuple)) else [x])]) for x in (start, ours, theirs)
    )
    moved = theirs - start
    assert moved.abs().max() > 0, "the reference run did not move"
    return float(((ours - start) - moved).abs().max() / moved.abs().max())
