"""Agreement with NASLib's NAS-Bench-Suite-Zero scores on a few NB201 CIFAR-10 cells (a small version of
``benchmarks/proxies_nb201.py``; data-free proxies only, to stay fast)."""

import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from pyronas.proxies import score

CELLS = 12


@pytest.fixture(scope="module")
def reference(nb201_csv) -> pd.DataFrame:
    path = nb201_csv.parent / "nb201_zero_cost_naslib.csv"
    if not path.is_file():
        pytest.skip(f"reference proxy table not found at {path} (set PYRONAS_SHARED)")
    table = pd.read_csv(path)
    return table[table.dataset == "cifar10"].sample(n=CELLS, random_state=1).reset_index(drop=True)


def test_params_flops_and_synflow_agree_with_the_reference(reference):
    images, labels = torch.zeros(1, 3, 32, 32), torch.zeros(1, dtype=torch.long)  # only the shape is used
    ours = pd.DataFrame([score(arch, ["params", "flops", "synflow"], images, labels) for arch in reference.arch])
    assert ours.params.to_numpy() == pytest.approx(reference.params.to_numpy(), abs=5e-7)
    assert ours.flops.to_numpy() == pytest.approx(reference.flops.to_numpy(), abs=5e-7)
    keep = reference.synflow > 0  # the reference stores log(synflow), and 0 where synflow is 0
    assert keep.sum() >= CELLS - 2
    assert spearmanr(ours.synflow[keep], reference.synflow[keep])[0] >= 0.8
    assert ((ours.synflow == 0) == (reference.synflow == 0)).all()
