"""Property-based: over random widths, batch sizes, class counts and dataset sizes, the data module
and one training step either work (finite losses) or raise one of the library's own errors."""

import lightning as L
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.errors import DANNError
from dann_lightning.nets import MLP, DomainDiscriminator
from tests.conftest import make_trainer

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


def datamodule_for(case) -> DomainDataModule:
    g = torch.Generator().manual_seed(case["seed"])
    target_width = case["target_features"] or case["in_features"]
    x_s = torch.randn(case["n_source"], case["in_features"], generator=g)
    y_s = torch.randint(0, case["num_classes"], (case["n_source"],), generator=g) + case["label_shift"]
    x_t = torch.randn(case["n_target"], target_width, generator=g)
    return DomainDataModule(TensorDataset(x_s, y_s), TensorDataset(x_t), batch_size=case["batch_size"])


@settings(max_examples=40, deadline=None)
@given(case=cases)
def test_the_data_module_serves_full_batches_or_raises_its_own_error(case):
    datamodule = datamodule_for(case)
    try:
        datamodule.setup("fit")
        datamodule.check_labels(case["num_classes"])
    except DANNError as error:
        event(f"rejected: {type(error).__name__}")
        return
    event("served")
    batch, _, _ = next(iter(datamodule.train_dataloader()))
    x_s, _ = batch["source"]
    (x_t,) = batch["target"]
    assert len(x_s) == len(x_t) == case["batch_size"]
    assert x_s.shape[1:] == x_t.shape[1:]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases)
def test_a_training_step_gives_finite_losses_or_raises_its_own_error(tmp_path, case):
    L.seed_everything(case["seed"], verbose=False)
    module = DANNLitModule(
        feature_extractor=MLP(case["in_features"], [8], activation="tanh"),
        classifier=nn.Linear(8, case["num_classes"]),
        discriminator=DomainDiscriminator(8, [8]),
        num_classes=case["num_classes"],
    )
    trainer = make_trainer(tmp_path, max_steps=1, log_every_n_steps=1, limit_val_batches=0)
    try:
        trainer.fit(module, datamodule_for(case))
    except DANNError as error:
        event(f"rejected: {type(error).__name__}")
        return
    event("trained")
    for name in ("train/loss", "train/cls_loss", "train/domain_loss"):
        assert torch.isfinite(trainer.callback_metrics[name]), name
