"""awsaug: AWS AutoAugment policy search with batched GPU augmentation kernels."""

__version__ = "0.1.0"
