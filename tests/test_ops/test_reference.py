import threading

from bpfn.ops import reference_algorithms, use_reference


def test_switch_nests_and_resets():
    assert not use_reference()
    with reference_algorithms():
        assert use_reference()
        with reference_algorithms(False):
            assert not use_reference()
        assert use_reference()
    assert not use_reference()


def test_switch_resets_after_an_error():
    try:
        with reference_algorithms():
            raise RuntimeError('inside')
    except RuntimeError:
        pass
    assert not use_reference()


def test_switch_is_per_thread():
    seen = []
    with reference_algorithms():
        thread = threading.Thread(target=lambda: seen.append(use_reference()))
        thread.start()
        thread.join()
    assert seen == [False]
