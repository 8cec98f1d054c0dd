import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Run the VSR tests on one intra-op thread.

    Their tensors are tiny, and on a shared machine several threads per
    convolution spend more time waiting than computing.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
