"""Full float32 arithmetic on the GPU for exactness checks."""
import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Turn off TensorFloat-32 in cuDNN and cuBLAS inside the block.

    PyTorch lets cuDNN convolutions (``torch.backends.cudnn.allow_tf32``,
    on by default) and, where asked, cuBLAS products round their inputs to
    TF32 (10 mantissa bits) on Ampere and later GPUs. That is fast and fine
    for training, but not the float32 arithmetic that the comparisons with
    the original implementation hold bpfn to. The fixture test and
    ``benchmark.py --compare-reference`` compare inside this block; the
    settings are restored on exit. On CPU it changes nothing.
    """
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32
    cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved
