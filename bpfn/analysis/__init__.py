"""Analysis of bpfn networks: FLOP and parameter counting."""
from .flops import (FlopCount, count_flops, count_parameters,
                    evenly_spaced_sample, flop_op_handles, sampler_stand_in)

__all__ = [
    'FlopCount', 'count_flops', 'count_parameters', 'flop_op_handles',
    'evenly_spaced_sample', 'sampler_stand_in'
]
