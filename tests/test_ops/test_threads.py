import torch

from bpfn.ops.threads import cpu_threads


def test_cpu_threads_limits_and_restores():
    outer = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with cpu_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with cpu_threads(None), cpu_threads(3):  # no change asked
            assert torch.get_num_threads() == 2
        try:
            with cpu_threads(1):
                raise ValueError
        except ValueError:
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(outer)
