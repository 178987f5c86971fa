"""Datasets: readers for every supported format, the stratified split, and the device-resident
data the training loop draws batches from."""

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.readers import load_dataset

__all__ = ["DataError", "Dataset", "load_dataset"]
