"""Batched AWS-36 augmentation kernels: the torch (CPU) backend, fused Triton kernels,
the Pillow reference semantics, and the per-(op, sign) parameter table they all share."""
