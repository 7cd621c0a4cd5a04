"""Registries of plugins (methods, spaces): found on first use in a package's modules and an entry-point group."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from collections.abc import Callable, Iterator, MutableMapping


class PluginRegistry(MutableMapping):
    """``{name: plugin}``, filled on first look-up from the modules of ``package`` (their attribute ``attr``) and
    the ``group`` entry points of every installed package; entries set before that look-up win over found ones.

    Args:
        package: dotted name of the package whose modules are scanned (``pyronas.models``).
        attr: the module attribute holding a plugin (``SPEC``, ``SPACE``).
        group: the entry-point group (``pyronas.methods``).
        kind: what a plugin is, for messages (``method``).
        name: ``(plugin, entry point name or None) -> registry name``; raises ``ValueError`` for a plugin that is
            not one (module attributes that fail are skipped, entry points that fail are an error).
    """

    def __init__(self, package: str, attr: str, group: str, kind: str, name: Callable[[object, str | None], str]):
        self.package, self.attr, self.group, self.kind, self.name = package, attr, group, kind, name
        self._items: dict[str, object] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        found, self._items = dict(self._items), {}
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__, f"{self.package}."):
            plugin = getattr(importlib.import_module(info.name), self.attr, None)
            if plugin is not None:
                try:
                    self._items[self.name(plugin, None)] = plugin
                except ValueError:
                    continue
        for point in importlib.metadata.entry_points(group=self.group):
            try:
                plugin = point.load()
            except Exception as e:  # a broken plugin must not take the built-in ones down silently
                raise ValueError(f"{self.kind} plugin {point.name!r} ({point.value}) fails to load: {e}") from None
            self._items[self.name(plugin, point.name)] = plugin
        self._items.update(found)

    def names(self) -> list[str]:
        """The names known without importing a plugin: all of them once found, else those set in this process."""
        return list(self._items)

    def __getitem__(self, name: str) -> object:
        self._load()
        return self._items[name]

    def __setitem__(self, name: str, plugin: object) -> None:
        self._items[name] = plugin

    def __delitem__(self, name: str) -> None:
        self._load()
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._items)

    def __len__(self) -> int:
        self._load()
        return len(self._items)
