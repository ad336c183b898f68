"""Property-based: over random widths, batch sizes, class counts and dataset sizes, valid input
must work (full batches, finite losses) and invalid input must raise the library's DataError."""

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from dann_lightning import DomainDataModule
from dann_lightning.errors import DataError

cases = st.fixed_dictionaries(
    {
        "in_features": st.integers(1, 6),
        "target_features": st.sampled_from([None] * 9 + [3]),  # None: same width as the source
        "num_classes": st.integers(2, 5),
        "batch_size": st.integers(1, 16),
        "n_source": st.integers(0, 60),
        "n_target": st.integers(0, 60),
        "label_shift": st.sampled_from([0] * 8 + [1, -1]),  # +1 / -1 push labels out of range
        "seed": st.integers(0, 2**16),
    }
)


def datamodule_for(case) -> tuple[DomainDataModule, bool]:
    """The data module of ``case`` and whether its input is valid."""
    g = torch.Generator().manual_seed(case["seed"])
    target_width = case["target_features"] or case["in_features"]
    x_s = torch.randn(case["n_source"], case["in_features"], generator=g)
    y_s = torch.randint(0, case["num_classes"], (case["n_source"],), generator=g) + case["label_shift"]
    x_t = torch.randn(case["n_target"], target_width, generator=g)
    valid = (
        case["batch_size"] <= min(case["n_source"], case["n_target"])  # also: neither domain is empty
        and target_width == case["in_features"]
        and bool(((y_s >= 0) & (y_s < case["num_classes"])).all())
    )
    datamodule = DomainDataModule(TensorDataset(x_s, y_s), TensorDataset(x_t), batch_size=case["batch_size"])
    return datamodule, valid


@settings(max_examples=40, deadline=None)
@given(case=cases)
def test_the_data_module_serves_full_batches_of_valid_input_and_rejects_invalid_input(case):
    datamodule, valid = datamodule_for(case)
    if not valid:
        event("invalid")
        with pytest.raises(DataError):
            datamodule.setup("fit")
            datamodule.check_labels(case["num_classes"])
            next(iter(datamodule.train_dataloader()))
        return
    event("valid")
    datamodule.setup("fit")
    datamodule.check_labels(case["num_classes"])
    batch, _, _ = next(iter(datamodule.train_dataloader()))
    x_s, _ = batch["source"]
    (x_t,) = batch["target"]
    assert len(x_s) == len(x_t) == case["batch_size"]
    assert x_s.shape[1:] == x_t.shape[1:]
