import itertools
import random

import pytest

from pyronas.spaces import get_space
from pyronas.spaces.nb201_cells import (
    EDGES,
    NUM_CELLS,
    OPS,
    CellStringError,
    canonical,
    cell_ops,
    format_cell,
    from_ordinal,
    ordinal,
    parse_cell,
)

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_constants_follow_methods_md():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert NUM_CELLS == 15_625


def test_parse_known_cell():
    assert parse_cell(BEST) == (3, 3, 3, 1, 3, 3)
    assert cell_ops(BEST)[3] == "skip_connect"


def test_round_trip_all_cells():
    for digits in itertools.islice(itertools.product(range(5), repeat=6), 0, None, 97):
        cell = format_cell(digits)
        assert parse_cell(cell) == digits
        assert from_ordinal(ordinal(cell)) == cell
    assert len({from_ordinal(i) for i in range(NUM_CELLS)}) == NUM_CELLS


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|nor_conv_3x3~0|",
        "|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_malformed_cells_raise_one_line_error(bad):
    with pytest.raises(CellStringError) as info:
        parse_cell(bad)
    assert "\n" not in str(info.value)


def test_format_rejects_bad_indices():
    with pytest.raises(CellStringError):
        format_cell([0, 1, 2])
    with pytest.raises(CellStringError):
        format_cell([0, 1, 2, 3, 4, 5])


def test_canonical_strips_whitespace():
    assert canonical("  " + BEST + "\n") == BEST


def test_space_derive_is_argmax_per_edge():
    import torch

    space = get_space("nb201")
    rng = random.Random(0)
    digits = [rng.randrange(5) for _ in EDGES]
    scores = torch.rand(6, 5) * 0.1
    scores[range(6), digits] = 1.0
    assert parse_cell(space.derive({"cell": scores})) == tuple(digits)
    assert space.one_hot(format_cell(digits))["cell"].argmax(-1).tolist() == digits


def test_unknown_space():
    with pytest.raises(ValueError, match="unknown search space"):
        get_space("nope")
