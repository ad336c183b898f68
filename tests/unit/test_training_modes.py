"""Manual optimization, mixed precision, torch.compile, exact resume, gradient accumulation."""

import copy
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend

from dann_lightning import DANNLitModule
from dann_lightning.domain_head import DomainHead
from dann_lightning.errors import DANNError
from dann_lightning.losses import classification_loss, domain_loss
from dann_lightning.optimization import average_gradients
from tests.conftest import make_datamodule, make_module, make_trainer, tiny_networks


def parameters(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def fitted(tmp_path, seed=0, trainer_kwargs=None, **module_kwargs) -> DANNLitModule:
    L.seed_everything(seed, verbose=False)
    module = make_module(seed=seed, **module_kwargs)
    make_trainer(tmp_path, limit_val_batches=0, **(trainer_kwargs or {})).fit(module, make_datamodule())
    return module


class Record(L.Callback):
    """Per training batch: lambda, learning rate seen by the batch, loss, global step."""

    def __init__(self):
        self.lambdas, self.lrs, self.losses, self.steps = [], [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.lambdas.append(pl_module.current_lambda())
        self.steps.append(trainer.global_step)
        self.losses.append(outputs["loss"].item())


# ------------------------------------------------------------------ automatic optimization


class OptimizerStepCounter(DANNLitModule):
    """Overrides a hook of Lightning's automatic optimization: it must be called every step."""

    calls = 0

    def optimizer_step(self, *args, **kwargs):
        self.calls += 1
        return super().optimizer_step(*args, **kwargs)


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_the_optimization_mode_is_lightnings_and_fixed_at_construction(tmp_path, optimization):
    module = make_module(optimization=optimization)
    assert module.automatic_optimization == (optimization == "automatic")
    make_trainer(tmp_path, max_steps=4, limit_val_batches=0).fit(module, make_datamodule())
    assert module.automatic_optimization == (optimization == "automatic")


def test_automatic_mode_runs_lightnings_optimizer_hooks_and_trainer_options(tmp_path):
    L.seed_everything(0, verbose=False)
    module = OptimizerStepCounter(**tiny_networks(), num_classes=2)
    record = Record()
    trainer = make_trainer(
        tmp_path, max_epochs=10, max_steps=6, limit_val_batches=0, callbacks=[record], accumulate_grad_batches=2
    )
    trainer.fit(module, make_datamodule())
    assert module.calls == 6  # one optimizer step per two batches
    assert record.steps == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]


def test_trainer_gradient_clipping_applies_in_automatic_mode(tmp_path):
    runs = {}
    for clip in (None, 1e-3):
        L.seed_everything(0, verbose=False)
        module = make_module(optimizer=lambda params: torch.optim.SGD(params, lr=1.0), lr_schedule="constant")
        before = parameters(module)
        make_trainer(tmp_path, max_steps=1, limit_val_batches=0, gradient_clip_val=clip).fit(module, make_datamodule())
        runs[clip] = torch.linalg.vector_norm(parameters(module) - before).item()
    assert runs[1e-3] == pytest.approx(1e-3, rel=1e-3)  # SGD with lr 1: the step is the clipped gradient
    assert runs[None] > 1e-2


# ------------------------------------------------------------------ manual optimization


def test_manual_and_automatic_coincide_without_the_adversarial_term(tmp_path):
    # lambda_max=0: the features get no domain gradient, so updating the discriminator first changes
    # nothing for them; Adam is per parameter, so one optimizer or two give the same updates.
    automatic = fitted(tmp_path, lambda_max=0.0)
    manual = fitted(tmp_path, lambda_max=0.0, optimization="manual")
    torch.testing.assert_close(parameters(manual), parameters(automatic), rtol=0, atol=1e-6)


def test_manual_step_updates_the_discriminator_first_then_the_features_against_it(tmp_path):
    lr, lam = 0.5, 0.8
    settings = {
        "optimizer": lambda params: torch.optim.SGD(params, lr=lr),
        "lambda_max": lam,
        "lambda_schedule": "constant",
        "lr_schedule": "constant",
    }
    L.seed_everything(0, verbose=False)
    start = make_module(**settings)
    datamodule = make_datamodule()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))[0]
    (x_s, y_s), (x_t,) = batch["source"], batch["target"]

    # By hand: an SGD step of the discriminator on the domain loss of fixed features, then an SGD
    # step of the feature extractor and classifier with the domain gradient reversed and scaled.
    expected = copy.deepcopy(start)
    labels = DomainHead(num_sources=1).labels([len(x_s)], len(x_t), x_s.device)
    features = expected.feature_extractor(torch.cat([x_s, x_t]))
    disc_loss = domain_loss(expected.discriminator(features.detach()), labels)
    for p, g in zip(
        expected.discriminator.parameters(),
        torch.autograd.grad(disc_loss, list(expected.discriminator.parameters())),
        strict=True,
    ):
        p.data -= lr * g
    main = list(expected.feature_extractor.parameters()) + list(expected.classifier.parameters())
    loss = classification_loss(expected.classifier(features[: len(x_s)]), y_s) - lam * domain_loss(
        expected.discriminator(features), labels
    )
    for p, g in zip(main, torch.autograd.grad(loss, main), strict=True):
        p.data -= lr * g

    results = {}
    for mode in ("manual", "automatic"):
        L.seed_everything(0, verbose=False)
        module = make_module(optimization=mode, **settings)
        make_trainer(tmp_path, max_steps=2 if mode == "manual" else 1, limit_val_batches=0).fit(module, datamodule)
        results[mode] = module
    manual, automatic = results["manual"], results["automatic"]
    torch.testing.assert_close(parameters(manual), parameters(expected), rtol=0, atol=1e-6)
    # Same discriminator update in both modes; the features differ through the updated discriminator.
    torch.testing.assert_close(parameters(automatic.discriminator), parameters(manual.discriminator), rtol=0, atol=1e-6)
    assert not torch.allclose(parameters(automatic.feature_extractor), parameters(manual.feature_extractor))


def test_max_steps_counts_every_optimizer_step_in_manual_mode(tmp_path):
    record = Record()
    module = make_module(optimization="manual", discriminator_steps=3, lambda_max=1.0)
    trainer = make_trainer(tmp_path, callbacks=[record], max_steps=8, max_epochs=-1, limit_val_batches=0)
    trainer.fit(module, make_datamodule())
    # 3 discriminator steps + 1 main step per batch: 8 optimizer steps are 2 batches, and the ramp
    # spans those 2 batches, not 8.
    assert record.steps == [4, 8]
    assert record.lambdas == pytest.approx([0.0, 2 / (1 + math.exp(-5)) - 1])


def test_manual_gradient_clipping_is_applied(tmp_path):
    norms = []

    class GradNorm(L.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    module = make_module(optimization="manual", gradient_clip_val=1e-3)
    make_trainer(tmp_path, callbacks=[GradNorm()], max_steps=6, limit_val_batches=0).fit(module, make_datamodule())
    assert len(norms) == 6
    assert max(norms) <= 1e-3 * (1 + 1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimization": "semi"}, r"unknown optimization 'semi'; valid: 'automatic', 'manual'"),
        ({"discriminator_optimizer": torch.optim.SGD}, r"discriminator_optimizer applies to optimization='manual'"),
        ({"discriminator_steps": 2}, r"discriminator_steps applies to optimization='manual'"),
        ({"gradient_clip_val": 1.0}, r"use Trainer\(gradient_clip_val=...\)"),
        ({"optimization": "manual", "discriminator_steps": 0}, r"discriminator_steps must be an integer >= 1, got 0"),
        ({"feature_pass": "both"}, r"unknown feature_pass 'both'; valid: 'joint', 'separate'"),
    ],
)
def test_bad_optimization_options(kwargs, message):
    with pytest.raises(DANNError, match=message):
        DANNLitModule(**tiny_networks(), num_classes=2, **kwargs)


def test_trainer_gradient_clipping_in_manual_mode_names_the_module_option(tmp_path):
    trainer = make_trainer(tmp_path, gradient_clip_val=1.0)
    with pytest.raises(DANNError, match=r"set DANNLitModule\(gradient_clip_val=..."):
        trainer.fit(make_module(optimization="manual"), make_datamodule())


# ------------------------------------------------------------------ mixed precision, compile


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_bf16_mixed_precision_on_cpu(tmp_path, optimization):
    module = make_module(optimization=optimization)
    trainer = make_trainer(tmp_path, precision="bf16-mixed", max_epochs=6, log_every_n_steps=1)
    trainer.fit(module, make_datamodule())
    for name in ("train/loss", "train/cls_loss", "train/domain_loss", "val/target_acc"):
        assert torch.isfinite(trainer.callback_metrics[name]), name
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert trainer.callback_metrics["val/source_acc"] > 0.8


def test_separate_feature_pass_gives_per_domain_batch_statistics(tmp_path):
    networks = tiny_networks()
    networks["feature_extractor"] = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Tanh())
    seen = []
    networks["feature_extractor"][1].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    module = DANNLitModule(**networks, num_classes=2, feature_pass="separate")
    make_trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(module, make_datamodule(batch_size=16))
    # Before training, one batch of 2 samples shows the networks their input (in eval mode); then
    # one normalisation per domain batch, not one over 32.
    assert seen == [2, 16, 16]


def test_compiled_networks_match_eager_and_do_not_recompile_as_lambda_changes(tmp_path):
    losses = {}
    for name, compile_option in [("eager", False), ("compiled", {"backend": CompileCounterWithBackend("aot_eager")})]:
        record = Record()
        L.seed_everything(0, verbose=False)
        module = make_module(compile=compile_option)
        trainer = make_trainer(tmp_path, callbacks=[record], max_epochs=3, limit_val_batches=0)
        trainer.fit(module, make_datamodule())
        losses[name] = record.losses
        if compile_option:
            frames_after_fit = compile_option["backend"].frame_count
            assert 0 < frames_after_fit <= 6  # one graph per network, plus at most one re-trace each
            assert all(not key.startswith("_orig_mod") and "._orig_mod" not in key for key in module.state_dict())
    assert len(set(record.lambdas)) == len(record.lambdas) == 12  # lambda changed at every step
    assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-5, abs=1e-6)


# ------------------------------------------------------------------ resume, accumulation


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, optimization):
    def run(ckpt_path=None, callbacks=()):
        L.seed_everything(0, verbose=False)
        module = make_module(optimization=optimization)
        trainer = make_trainer(
            tmp_path, max_epochs=4, limit_val_batches=0, callbacks=list(callbacks), enable_checkpointing=bool(callbacks)
        )
        trainer.fit(module, make_datamodule(), ckpt_path=ckpt_path)
        return module

    every_epoch = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")
    full_record, resumed_record = Record(), Record()
    full = run(callbacks=[every_epoch, full_record])
    resumed = run(ckpt_path=tmp_path / "ckpt" / "epoch=1.ckpt", callbacks=[resumed_record])
    torch.testing.assert_close(parameters(resumed), parameters(full), rtol=0, atol=0)
    assert resumed_record.lambdas == pytest.approx(full_record.lambdas[8:])
    assert resumed_record.lrs == pytest.approx(full_record.lrs[8:])


@pytest.mark.parametrize("limit", [{"max_epochs": 3}, {"max_steps": 4, "max_epochs": -1}])
def test_gradient_accumulation_keeps_the_schedules_in_batch_units(tmp_path, limit):
    record = Record()
    module = make_module(lambda_max=1.0)
    trainer = make_trainer(tmp_path, callbacks=[record], accumulate_grad_batches=2, limit_val_batches=0, **limit)
    trainer.fit(module, make_datamodule())
    # 4 batches per epoch. By epochs: 12 batches, 6 optimizer steps. By steps: 4 steps = 8 batches.
    batches = 12 if "max_steps" not in limit else 8
    steps = batches // 2
    assert len(record.lambdas) == batches
    assert record.lambdas == pytest.approx([2 / (1 + math.exp(-10 * i / batches)) - 1 for i in range(batches)])
    # The LR moves once per optimizer step, i.e. every second batch.
    assert record.lrs == pytest.approx([1e-2 / (1 + 10 * (i // 2) / steps) ** 0.75 for i in range(batches)])


def test_manual_mode_averages_the_discriminators_gradients_in_one_collective():
    class CountingStrategy:
        """Stands in for DDP across two processes whose other process had zero gradients."""

        calls = 0

        def reduce(self, tensor, reduce_op):
            self.calls += 1
            assert reduce_op == "mean"
            return tensor / 2

    discriminator = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    discriminator(torch.randn(5, 3)).sum().backward()
    before = [param.grad.clone() for param in discriminator.parameters()]
    strategy = CountingStrategy()
    average_gradients(discriminator.parameters(), strategy)
    assert strategy.calls == 1  # one collective for all four parameter tensors
    for param, grad in zip(discriminator.parameters(), before, strict=True):
        torch.testing.assert_close(param.grad, grad / 2)
