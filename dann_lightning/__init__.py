"""dann_lightning: domain-adversarial training (DANN) as PyTorch Lightning parts."""

from dann_lightning.cdan import CDANLitModule
from dann_lightning.data import DomainDataModule
from dann_lightning.grl import GradientReversal, grad_reverse
from dann_lightning.module import DANNLitModule

__version__ = "0.2.0"

__all__ = ["CDANLitModule", "DANNLitModule", "DomainDataModule", "GradientReversal", "__version__", "grad_reverse"]
