"""A poutine messenger that keeps the value of one named site (used to read logits off a step)."""

from __future__ import annotations

from pyro.poutine.messenger import Messenger


class SiteRecorder(Messenger):
    """Records the last value of the sample site ``name`` seen while active."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.value = None

    def _postprocess_message(self, msg) -> None:
        if msg["type"] == "sample" and msg["name"] == self.name:
            self.value = msg["value"]
