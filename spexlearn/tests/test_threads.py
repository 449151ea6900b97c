"""The thread count follows the measured speed: the most threads on a quiet machine,
fewer while other processes slow them down, the most again once the load is gone."""

from spexlearn._threads import RECHECK, ThreadChoice


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
    assert used[:3] == [4, 2, 1] and set(used[3:]) == {4}


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
