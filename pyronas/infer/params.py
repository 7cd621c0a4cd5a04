"""Every parameter a model or guide creates is learned and saved, or refused when the pair is built.

Pyro hands a parameter to SVI only through a ``param`` site: ``pyro.param``, ``pyro.module``, or a
:class:`~pyro.nn.PyroModule` reading its own ``PyroParam`` / ``nn.Parameter`` attributes *while it is being
called*. Two patterns never emit a site, so a plain SVI step would leave them at their initial values:

- a ``PyroModule`` held by a plain ``nn.Module`` (e.g. a learned prior ``self.ard = PyroModule()`` on a plain
  model): read from the parent's ``forward`` it evaluates its ``PyroParam``s outside any Pyro context;
- an ``nn.Parameter`` of a plain module (the model or guide itself, or a plain child of a ``PyroModule``).

:class:`ParameterSites` finds both in the module trees of a model and a guide (the supernet excluded: its
weights are registered by :func:`~pyronas.infer.primitives.classify`) and wraps the model and guide so that
each call emits their sites: a ``PyroModule`` that has no Pyro parent is called inside its own context, so Pyro
registers its parameters under their usual names and constraints (``ard.normal_op``); a plain parameter is
emitted as ``pyro.param("<model|guide>.<path>", p)``. Module parameters are saved with the modules'
``state_dict``; parameters that live only in Pyro's param store (plain ``pyro.param`` calls) are saved and
restored by :func:`store_only_state` / :func:`load_store_only_state`.

A pattern that cannot be learned or saved is refused by :func:`check_parameters` in one line: a tensor
attribute with ``requires_grad=True`` that is not registered as an ``nn.Parameter``, and two parameters that
would get the same param-store name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import pyro
import torch
from pyro.distributions import constraints
from pyro.distributions.transforms import transform_to
from pyro.nn import PyroModule
from torch import nn

from pyronas.infer.contract import ContractError


class ParameterError(ContractError):
    """A model or guide parameter that the search could neither learn nor save."""


def _walk(
    module: nn.Module, path: str, skip: set[int], pyro_parent: bool
) -> Iterator[tuple[str, nn.Module, bool]]:
    """``(path, module, orphan)`` for every module under ``module`` except those in ``skip`` (by identity).

    ``orphan``: a ``PyroModule`` with no ``PyroModule`` parent below the root, whose context nobody enters.
    """
    if id(module) in skip:
        return
    is_pyro = isinstance(module, PyroModule)
    yield path, module, is_pyro and not pyro_parent
    for name, child in module.named_children():
        yield from _walk(child, f"{path}.{name}" if path else name, skip, is_pyro)


def _modules(
    model: object, guide: object, exclude: Iterable[nn.Module]
) -> Iterator[tuple[str, str, nn.Module, bool]]:
    """``(role, path, module, orphan)`` for every module of the model's and the guide's trees (``exclude`` left
    out), ``role`` being ``"model"`` or ``"guide"``; parts that are no ``nn.Module`` have none."""
    skip = {id(m) for m in exclude}
    for role, part in (("model", model), ("guide", guide)):
        if isinstance(part, nn.Module):
            for path, module, orphan in _walk(part, "", skip, pyro_parent=False):
                yield role, path, module, orphan and module is not part


def _where(role: str, path: str, name: str) -> str:
    """The dotted name of attribute ``name`` of the module at ``path`` of the model or guide."""
    return f"{role}.{path}.{name}" if path else f"{role}.{name}"


def _full_name(module: PyroModule, name: str) -> str:
    """The param-store name of attribute ``name`` of ``module`` (as Pyro names it once the module has been called)."""
    return f"{module._pyro_name}.{name}" if module._pyro_name else name


def _pyro_names(module: PyroModule) -> list[tuple[str, nn.Parameter]]:
    """``(param-store name, tensor)`` of the parameters a ``PyroModule`` tree registers in its own context."""
    out = []
    for sub in module.modules():
        if not isinstance(sub, PyroModule):
            continue
        for name in sub._pyro_params:
            out.append((_full_name(sub, name), getattr(sub, name + "_unconstrained")))
        for name, p in sub._parameters.items():
            if p is not None and not name.endswith("_unconstrained"):
                out.append((_full_name(sub, name), p))
    return out


class ParameterSites:
    """The parameters of ``model`` and ``guide`` that only a wrapper makes visible to SVI.

    Args:
        model, guide: the method's pair (anything callable; only ``nn.Module`` trees are searched).
        exclude: modules whose parameters are registered elsewhere (the supernet).

    Attributes:
        contexts: ``{role: [PyroModule]}``, PyroModules without a Pyro parent (the root aside), called inside
            their own context so that Pyro registers their trees.
        plain: ``{role: {name: parameter}}``, trainable parameters of plain modules, which no PyroModule registers.
    """

    def __init__(self, model: Callable, guide: Callable, exclude: Iterable[nn.Module] = ()):
        self.contexts: dict[str, list[PyroModule]] = {"model": [], "guide": []}
        self.plain: dict[str, dict[str, nn.Parameter]] = {"model": {}, "guide": {}}
        for role, path, module, orphan in _modules(model, guide, exclude):
            if isinstance(module, PyroModule):  # registered by its own call, its Pyro parent's, or ours
                if orphan:
                    self.contexts[role].append(module)
                continue
            for name, p in module._parameters.items():
                if p is not None and p.requires_grad:
                    self.plain[role][_where(role, path, name)] = p

    def named_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """``(param-store name, tensor)`` of every parameter these sites emit."""
        out = [item for role in self.contexts for m in self.contexts[role] for item in _pyro_names(m)]
        return out + [item for role in self.plain for item in self.plain[role].items()]

    def wrap(self, fn: Callable, role: str) -> Callable:
        """``fn`` (the model or guide, by ``role``) emitting the param sites of its unregistered parameters."""
        contexts, plain = self.contexts[role], self.plain[role]
        if not contexts and not plain:
            return fn

        def with_sites(*args, **kwargs):
            with contextlib.ExitStack() as stack:
                for module in contexts:
                    stack.enter_context(module._pyro_context)  # what PyroModule.__call__ does for its own tree
                for name, p in plain.items():
                    pyro.param(name, p)  # real constraint: the store holds ``p`` itself
                return fn(*args, **kwargs)

        return with_sites


def check_parameters(model: object, guide: object, exclude: Iterable[nn.Module] = (), method: str = "the method"):
    """Refuse, in one line, a parameter the search could not learn or save; return the pair's :class:`ParameterSites`.

    Refused: a tensor attribute with ``requires_grad=True`` that is not an ``nn.Parameter`` (neither learned nor
    saved), and two parameters of model and guide that would share one param-store name.
    """
    for role, path, module, _ in _modules(model, guide, exclude):
        for name, value in vars(module).items():
            if torch.is_tensor(value) and value.requires_grad and not isinstance(value, nn.Parameter):
                raise ParameterError(
                    f"{method}'s {_where(role, path, name)} is a tensor with requires_grad=True that is not a "
                    "parameter, so it would never be learned or saved; make it an nn.Parameter (or a PyroParam), "
                    "or a buffer (register_buffer) if it is fixed"
                )
    sites = ParameterSites(model, guide, exclude)
    seen: dict[str, int] = {}
    for name, tensor in sites.named_tensors():
        if seen.setdefault(name, id(tensor)) != id(tensor):
            raise ParameterError(
                f"{method}: two parameters of the model and guide would both be learned as {name!r}; give "
                "their PyroModules distinct names (PyroModule(name=...))"
            )
    return sites


def module_parameter_ids(*modules: object) -> set[int]:
    """Identities of every parameter of the given modules (non-modules are ignored)."""
    return {id(p) for m in modules if isinstance(m, nn.Module) for p in m.parameters()}


def store_only_state(modules: Iterable[object]) -> dict[str, dict]:
    """``{name: {"value": unconstrained, "constraint": c}}`` of the param store's parameters that no module owns.

    These are the plain ``pyro.param`` sites of a model or guide; module parameters are saved by ``state_dict``.
    """
    owned = module_parameter_ids(*modules)
    store = pyro.get_param_store()
    out = {}
    for name in store.keys():
        value = store.get_param(name).unconstrained()
        if id(value) not in owned:
            out[name] = {"value": value.detach().clone(), "constraint": store._constraints[name]}
    return out


def load_store_only_state(state: dict[str, dict]) -> None:
    """Restore :func:`store_only_state` in place (bit for bit), creating the parameters that do not exist yet."""
    store = pyro.get_param_store()
    for name, entry in state.items():
        value, constraint = entry["value"], entry.get("constraint", constraints.real)
        if name not in store:
            pyro.param(name, transform_to(constraint)(value.clone()), constraint=constraint)
        with torch.no_grad():
            target = store.get_param(name).unconstrained()
            target.copy_(value.to(target.device, target.dtype))
