"""How passes are sized to the machine: the thread count follows the measured speed (the
most threads on a quiet machine, fewer while other processes slow them down, the most
again once the load is gone), and a GPU's passes grow with its free memory."""

from spexlearn._threads import FIRST_LOOK, RECHECK, ThreadChoice


def _run(choice, batches, seconds_per_unit):
    """``batches`` batches of one unit each; ``seconds_per_unit[threads]`` their time."""
    used = []
    for _ in range(batches):
        threads = choice.next()
        choice.record(threads, 1.0, seconds_per_unit[threads])
        used.append(threads)
    return used


def test_a_quiet_machine_runs_on_every_core_after_one_look_at_each_count():
    choice = ThreadChoice(4)
    assert choice.candidates == [1, 2, 4]
    used = _run(choice, 40, {4: 1.0, 2: 1.7, 1: 3.0})
    look = FIRST_LOOK
    assert used[:look] == [4] * look and used[look:look + 2] == [2, 1]
    assert set(used[look + 2:]) == {4}


def test_a_busy_machine_moves_to_fewer_threads_and_back_when_the_load_goes():
    choice = ThreadChoice(2)
    quiet, busy = {2: 1.0, 1: 2.0}, {2: 3.0, 1: 2.0}
    _run(choice, 10, quiet)
    during = _run(choice, 6 * RECHECK, busy)
    assert during.count(1) >= 5 * RECHECK  # mostly one thread, two now and then
    assert 2 in during[RECHECK:]  # ... which is how the end of the load is seen
    after = _run(choice, 3 * RECHECK, quiet)
    assert set(after[RECHECK + 1:]) == {2}


def test_one_core_means_one_thread():
    assert _run(ThreadChoice(1), 5, {1: 1.0}) == [1] * 5


def test_gpu_batches_grow_with_free_memory_and_shrink_with_the_model():
    from types import SimpleNamespace

    from spexlearn.lm import gpu_batch_tokens

    small = SimpleNamespace(hidden_size=576, num_attention_heads=9, num_key_value_heads=3,
                            intermediate_size=1536, vocab_size=49152, num_hidden_layers=30)
    large = SimpleNamespace(hidden_size=2048, num_attention_heads=32, num_key_value_heads=8,
                            intermediate_size=8192, vocab_size=128256, num_hidden_layers=16)
    gib = 1 << 30
    assert gpu_batch_tokens(small, 0) == 8192  # never below the CPU's batches
    assert 8192 < gpu_batch_tokens(small, 40 * gib) < gpu_batch_tokens(small, 80 * gib)
    assert gpu_batch_tokens(large, 80 * gib) < gpu_batch_tokens(small, 80 * gib)
    assert gpu_batch_tokens(small, 10_000 * gib) == 1 << 17
    # What a pass may fill stays within a quarter of the free memory.
    per_token = 4 * (8 * 576 + 2 * 1536 + 49152) + 8 * 4 * 2 * 30 * 3 * 64
    assert gpu_batch_tokens(small, 40 * gib) * per_token <= 10 * gib
