"""ModuleSpace: a network of your own as a search space; spaces as plugins (names, module:factory paths)."""

import json
import sys
import textwrap

import pytest
import torch
from torch import nn

from pyronas.api import search
from pyronas.config import SearchConfig
from pyronas.nn import Choice, WidthChoice
from pyronas.nn.examples import choice_convnet
from pyronas.registry import METHODS
from pyronas.spaces import SPACES, DARTSSpace, ModuleSpace, NB201Space, get_space, register_space

EXAMPLE = "pyronas.nn.examples:choice_convnet"
TINY = dict(dataset="digits", epochs=1, train_size=64, batch_size=32, progress=False)


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = nn.Parameter(torch.tensor(factor))

    def forward(self, x):
        return self.factor * x


def toy(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """Decisions with 2, 3 and 3 candidates; ``shared`` appears twice."""
    return nn.Sequential(
        Choice({"a": Scale(1.0), "b": Scale(2.0)}, label="shared"),
        Choice({"a": Scale(1.0), "b": Scale(2.0)}, label="shared"),
        Choice({"x": Scale(1.0), "y": Scale(-1.0), "z": Scale(3.0)}, label="three"),
        WidthChoice(in_channels, [1, 2, in_channels], label="width"),
        nn.Flatten(),
        nn.LazyLinear(num_classes),
    )


@pytest.fixture
def space():
    return ModuleSpace(toy)


def test_tables_group_decisions_by_candidate_count(space):
    assert space.cell_types == ("choices2", "choices3")
    assert space.arch_shape == {"choices2": (1, 2), "choices3": (2, 3)}
    assert space.row_names("choices3") == ("three", "width")
    assert space.candidate_names("choices3") == (("x", "y", "z"), ("1", "2", "3"))
    assert space.candidate_names("choices2") == (("a", "b"),)


def test_supernet_routes_rows_to_choices_with_shared_labels():
    space = ModuleSpace(lambda num_classes, in_channels: nn.Sequential(*toy(num_classes, in_channels)[:4]))
    net = space.supernet(num_classes=10, in_channels=3)
    x = torch.ones(1, 3, 1, 1)
    weights = {"choices2": torch.tensor([[0.5, 0.5]]), "choices3": torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])}
    out = net(x, weights).flatten()
    # shared twice: 1.5 * 1.5; three: 3; width: 0.5 * mask(1) + 0.5 * mask(3)
    assert torch.allclose(out, 2.25 * 3 * torch.tensor([1.0, 0.5, 0.5]))
    with pytest.raises(RuntimeError, match="no mixing weights"):
        net.network(x)  # weights are cleared after the forward


def test_one_label_with_different_candidates_is_refused():
    def bad(num_classes, in_channels):
        return nn.Sequential(Choice({"a": nn.Identity()}, label="x"), Choice({"b": nn.Identity()}, label="x"))

    with pytest.raises(ValueError, match="labelled 'x' differ"):
        ModuleSpace(bad)
    with pytest.raises(ValueError, match="holds no Choice"):
        ModuleSpace(lambda num_classes, in_channels: nn.Linear(2, 2))


def test_derive_validate_network_round_trip(space):
    scores = {"choices2": torch.tensor([[0.1, 0.9]]), "choices3": torch.tensor([[0.0, 0.2, 0.1], [1.0, 0.0, 0.0]])}
    genotype = space.derive(scores)
    assert json.loads(genotype) == {"shared": "b", "three": "y", "width": "1"}
    assert space.validate(genotype) == genotype
    assert space.validate('{"width": "1", "three": "y", "shared": "b"}') == genotype  # canonical label order
    one_hot = space.one_hot(genotype)
    assert torch.equal(one_hot["choices3"], torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert space.derive(one_hot) == genotype
    net = space.network(genotype, num_classes=4, in_channels=3)  # what runs: the chosen candidates only
    factors = {name: p.item() for name, p in net.named_parameters() if name.endswith("factor")}
    assert factors == {"0.candidates.1.factor": 2.0, "1.candidates.1.factor": 2.0, "2.candidates.1.factor": -1.0}
    assert net.narrowing_report == ["width 'width': kept as a mask of 1 of 3 channels (producer mul at node mul_2)"]
    out = net(torch.ones(2, 3, 1, 1))
    assert out.shape == (2, 4)
    for bad, reason in (
        ("{", "not JSON"),
        ('{"shared": "b", "three": "y"}', "missing 'width'"),
        ('{"shared": "b", "three": "q", "width": "1"}', "no candidate 'q'"),
    ):
        with pytest.raises(ValueError, match=reason):
            space.validate(bad)


def test_op_parameters_per_candidate(space):
    supernet = space.supernet(num_classes=10, in_channels=3)
    tables = space.op_parameters(supernet)
    assert [len(params) for params in tables["choices2"][0]] == [2, 2]  # both "shared" choices
    assert [len(params) for params in tables["choices3"][0]] == [1, 1, 1]
    assert tables["choices3"][1] == [[], [], []]  # a width choice holds no parameters


def test_get_space_names_paths_objects_and_plugins(tmp_path, monkeypatch):
    assert {"nb201", "darts"} <= set(SPACES)
    assert isinstance(get_space("nb201"), NB201Space) and isinstance(get_space("darts"), DARTSSpace)
    (tmp_path / "module_space_nets.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            from pyronas.nn import Choice

            def net(num_classes, in_channels):
                return nn.Sequential(Choice({"a": nn.Identity(), "b": nn.Identity()}, label="pick"))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "module_space_nets", None)  # restored (removed) after the test ...
    del sys.modules["module_space_nets"]  # ... and imported afresh from tmp_path here
    space = get_space("module_space_nets:net")
    assert isinstance(space, ModuleSpace) and space.name == "module_space_nets:net"
    assert space.row_names("choices2") == ("pick",)
    assert get_space("pyronas.spaces.darts:DARTSSpace").name == "darts"
    assert get_space(choice_convnet).name == EXAMPLE
    assert get_space(space) is space
    monkeypatch.setitem(SPACES._items, "mine", choice_convnet)
    assert get_space("mine").name == "mine"
    for bad, reason in (("nope", "unknown search space 'nope'"), ("module_space_nets:missing", "cannot be loaded")):
        with pytest.raises(ValueError, match=reason):
            get_space(bad)


def test_register_space():
    register_space("toy-space", toy)
    try:
        assert get_space("toy-space").cell_types == ("choices2", "choices3")
    finally:
        del SPACES["toy-space"]


def test_config_records_a_space_object_by_its_path():
    config = SearchConfig().replace(space=ModuleSpace(choice_convnet))
    assert config.to_json()["space"] == EXAMPLE
    assert SearchConfig.from_json(config.to_json())["space"] == EXAMPLE
    assert SearchConfig().replace(space=choice_convnet).resume_key()["space"] == EXAMPLE


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_searches_a_network_of_your_own(method, tmp_path):
    result = search(method, space=EXAMPLE, out_dir=tmp_path, **TINY)
    space = get_space(EXAMPLE)
    assert space.validate(result.genotype) == result.genotype
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["space"] == EXAMPLE and written["genotype"] == result.genotype
    probs = written["op_probabilities"]
    assert probs["choices2"].keys() == {"width", "depth"} and probs["choices3"].keys() == {"kernel"}
    assert probs["choices3"]["kernel"].keys() == {"conv1x1", "conv3x3", "conv5x5"}
    assert probs["choices2"]["width"].keys() == {"8", "16"}


def test_report_names_decisions_and_draws_no_cell_graph(tmp_path):
    from pyronas.diagnostics import write_report

    search("drnas", space=EXAMPLE, out_dir=tmp_path / "run", **{**TINY, "epochs": 2})
    written = write_report([tmp_path / "run"], tmp_path / "report", num_draws=10)
    assert "cell.png" not in written and "trajectories.png" in written
    summary = json.loads(written["summary.json"].read_text())
    assert summary["edges"]["choices2"].keys() == {"width", "depth"}
    assert summary["edges"]["choices3"]["kernel"]["ops"].keys() == {"conv1x1", "conv3x3", "conv5x5"}
    assert summary["edges"]["choices2"]["depth"]["ops"].keys() == {"skip", "block"}
    assert get_space(EXAMPLE).validate(summary["derived_cell"]["genotype"]) == summary["derived_cell"]["genotype"]


def test_none_candidate_is_inactive_per_row_for_bayesnas():
    from pyronas.guides.bayesnas import BayesNASGuide

    from pyronas.compress import active_ops

    def net(num_classes, in_channels):
        return nn.Sequential(
            Choice({"none": Scale(0.0), "keep": Scale(1.0)}, label="drop"),
            Choice({"a": Scale(1.0), "b": Scale(2.0)}, label="plain"),
        )

    space = ModuleSpace(net)
    assert active_ops(space, "choices2").tolist() == [[False, True], [True, True]]
    probs = BayesNASGuide(space, threshold=0.99).op_probabilities()["choices2"]
    assert torch.allclose(probs.sum(-1), torch.ones(2)) and probs[0, 0] == 0  # the none row is not cut: edge gate 1


def test_spaces_come_from_entry_points(monkeypatch):
    import importlib.metadata

    from pyronas.plugins import PluginRegistry
    from pyronas.spaces import ENTRY_POINTS, _space_name

    declared = {point.name: point.value for point in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    assert declared["nb201"] == "pyronas.spaces.nb201:NB201Space"
    assert declared["darts"] == "pyronas.spaces.darts:DARTSSpace"
    plugin = importlib.metadata.EntryPoint("mine", EXAMPLE, ENTRY_POINTS)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [plugin] if group == ENTRY_POINTS else [])
    registry = PluginRegistry("pyronas.spaces", "SPACE", ENTRY_POINTS, "space", _space_name)
    assert registry["mine"] is choice_convnet and {"nb201", "darts"} <= set(registry)
    monkeypatch.setattr("pyronas.spaces.SPACES", registry)
    assert get_space("mine").row_names("choices3") == ("kernel",)


def test_tensorboard_tags_name_rows_and_candidates_per_table():
    from pyronas.infer.rundir import _to_board

    class Writer:
        def __init__(self):
            self.tags = []

        def add_scalar(self, tag, value, step):
            self.tags.append(tag)

        def flush(self):
            pass

    space = get_space(EXAMPLE)
    names = {t: (space.row_names(t), space.candidate_names(t)) for t in space.cell_types}
    writer = Writer()
    probs = {t: torch.full(shape, 0.5).tolist() for t, shape in space.arch_shape.items()}
    _to_board(writer, {"epoch": 1, "op_probabilities": probs}, names)
    assert "op_probabilities/choices2/width/16" in writer.tags
    assert "op_probabilities/choices2/depth/skip" in writer.tags
    assert "op_probabilities/choices3/kernel/conv5x5" in writer.tags


def test_found_network_is_the_fixed_network_with_trained_weights_torch_only():
    from pyronas.nn.export import pyronas_modules

    result = search("drnas", space=EXAMPLE, **TINY)
    net = result.network(calibration=0)  # inherited weights, supernet's BatchNorm statistics
    assert pyronas_modules(net) == {}
    x = torch.randn(3, 1, 8, 8)
    one_hot = get_space(EXAMPLE).one_hot(result.genotype)
    assert torch.allclose(net(x), result.supernet.eval()(x, one_hot), atol=1e-6)
    assert pyronas_modules(result.network(inherit_weights=False)) == {}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_test_kit_passes_on_a_network_of_your_own(method):
    from pyronas.testing import check_method

    check_method(method, space=EXAMPLE)
