"""Choosing where a ready task goes."""

from __future__ import annotations

from helicase.controller._placement import ParticipantView, Pool, ReadyQueue


def view(name: str, capacity: int, *load: int, group: str = "default") -> ParticipantView:
    v = ParticipantView(name=name, group=group, task_types=frozenset({"noop"}), capacity=capacity)
    v.load = {("w", f"t{i}", 1, 1) for i in load}
    return v


def test_least_loaded_by_ratio_with_a_free_slot_ties_by_name() -> None:
    pool = Pool()
    for v in (view("a", 4, 1, 2, 3), view("b", 2, 1), view("c", 1, 1), view("d", 8, 1, 2, 3, 4)):
        pool.put(v)
    assert pool.least_loaded(("default", "noop")).name == "b"  # type: ignore[union-attr]
    assert pool.least_loaded(("default", "other")) is None
    assert pool.least_loaded(("gpu", "noop")) is None
    pool.get("b").load.add(("w", "x", 1, 1))  # type: ignore[union-attr]
    assert pool.least_loaded(("default", "noop")).name == "d"  # type: ignore[union-attr]


def test_disconnected_participants_get_nothing() -> None:
    pool = Pool()
    idle = view("idle", 4)
    idle.connected = False
    pool.put(idle)
    assert pool.least_loaded(("default", "noop")) is None


def test_ready_queue_serves_the_oldest_placeable_entry_and_drops_dead_ones() -> None:
    pool = Pool()
    pool.put(view("p", 1))
    queue = ReadyQueue()
    queue.push(("gpu", "noop"), "w", 0)  # nobody can take it
    queue.push(("default", "noop"), "w", 1)  # dead by the time it is looked at
    queue.push(("default", "noop"), "w", 2)
    found = queue.pop_next(is_live=lambda _w, i: i != 1, pool=pool)
    assert found is not None and found[:2] == ("w", 2) and found[2].name == "p"
    assert len(queue) == 1  # the gpu entry still waits
