"""Adapters that map student features onto the teacher's channels."""
from torch import Tensor, nn

from bpfn.registry import MODELS
from ..layers.conv_block import pointwise


@MODELS.register_module()
class ConvAdapter(nn.Module):
    """A 1x1 convolution over channel-last features, (B, N, C_s) ->
    (B, N, C_t).

    The distiller fills ``in_channels`` and ``out_channels`` from its dry
    run, so configs only write ``adapter=dict(type='ConvAdapter')``.

    Args:
        in_channels (int): Student channels ``C_s``.
        out_channels (int): Teacher channels ``C_t``.
        bias (bool): Add a bias. Defaults to True.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Adapted features (B, N, C_t) of ``x`` (B, N, C_s)."""
        return pointwise(self.conv, x)
