"""Domain data modules: the generic source/target pairing, files and image folders, and one data
module for every generated shift (the generators themselves live in ``dann_lightning.datasets``)."""

from dann_lightning.data.digits import DigitsDataModule, make_digits_shift
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.image_files import ImageFilesDataModule
from dann_lightning.data.image_folder import ImageFolderDataModule
from dann_lightning.data.moons import MoonsDataModule, make_moons_shift
from dann_lightning.data.regression_shift import RegressionShiftDataModule, make_regression_shift
from dann_lightning.data.shift import ShiftDataModule
from dann_lightning.data.tabular import TabularDataModule, TabularShiftDataModule, make_tabular_shift
from dann_lightning.data.transforms import Standardizer

__all__ = [
    "DigitsDataModule",
    "DomainDataModule",
    "ImageFilesDataModule",
    "ImageFolderDataModule",
    "MoonsDataModule",
    "RegressionShiftDataModule",
    "ShiftDataModule",
    "Standardizer",
    "TabularDataModule",
    "TabularShiftDataModule",
    "make_digits_shift",
    "make_moons_shift",
    "make_regression_shift",
    "make_tabular_shift",
]
