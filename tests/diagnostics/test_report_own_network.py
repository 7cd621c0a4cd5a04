"""``pyronas report`` over three seeds of a search of your own network: every plot is written, and the user's labels
and candidate names (not table rows or op indices) are what ``summary.json`` and the figures' text show."""

import json

import matplotlib
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from pyronas.api import search
from pyronas.cli import main
from pyronas.spaces import get_space

EXAMPLE = "pyronas.nn.examples:choice_convnet"
TINY = dict(dataset="digits", epochs=2, train_size=64, batch_size=32, progress=False)
PLOTS = ("op_probabilities.png", "forest.png", "traces.png", "trajectories.png")
NAMED = ("op_probabilities.png", "forest.png", "trajectories.png")  # traces.png plots losses: no decisions in it


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("searches")
    for seed in range(3):
        search("drnas", space=EXAMPLE, seed=seed, out_dir=str(root / f"s{seed}"), **TINY)
    return [str(root / f"s{seed}") for seed in range(3)]


def test_report_of_three_seeds_names_labels_and_candidates(seeds, tmp_path, monkeypatch):
    texts = {}  # file name -> every non-empty text of the figure as it is saved (ticks, annotations, legends)
    save = Figure.savefig

    def reading_savefig(fig, fname, *args, **kwargs):
        texts[str(fname).rsplit("/", 1)[-1]] = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
        return save(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", reading_savefig)
    with matplotlib.rc_context({"backend": "Agg"}):
        assert main(["report", *seeds, "--draws", "20", "--out", str(tmp_path / "report")]) == 0

    report = tmp_path / "report"
    for name in PLOTS:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert set(texts) == set(PLOTS)  # and no cell graph for a network of your own
    assert (report / "posterior.nc").stat().st_size > 0

    space = get_space(EXAMPLE)
    summary = json.loads((report / "summary.json").read_text())
    assert summary["space"] == EXAMPLE and summary["chains"] == 3
    assert [s["seed"] for s in summary["searches"]] == [0, 1, 2]
    for table in space.cell_types:
        rows = summary["edges"][table]
        assert list(rows) == list(space.row_names(table))
        for label, names in zip(space.row_names(table), space.candidate_names(table)):
            assert list(rows[label]["ops"]) == list(names)
            for name in NAMED:
                words = "\n".join(texts[name]).split()  # annotations put the candidate over its probability
                assert label in words or f"{table} {label}" in "\n".join(texts[name]), (name, label)
                missing = [c for c in names if c not in words]
                assert not missing, (name, label, missing)
    assert not any(f"op{k}" in "\n".join(texts["op_probabilities.png"]) for k in range(3))
