"""Every log has a size cap: rotation while its process keeps writing, and `shop logs`
reading and following across a rotation."""

from __future__ import annotations

from pathlib import Path

from shoptools.stack.logs import Follower, rotate_if_large, rotate_logs, rotated, tail


def write_lines(log: Path, first: int, count: int) -> None:
    """What a component does: append to its log (O_APPEND), never reopening it."""
    with log.open("a") as f:
        for n in range(first, first + count):
            f.write(f"line {n}\n")


def test_a_log_past_its_cap_moves_to_a_numbered_copy_and_starts_again(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    write_lines(log, 0, 100)

    assert not rotate_if_large(log, max_bytes=10_000, keep=2)
    assert rotate_if_large(log, max_bytes=500, keep=2)

    assert log.stat().st_size == 0
    assert rotated(log, 1).read_text().splitlines()[-1] == "line 99"


def test_only_the_newest_copies_are_kept(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    for round_ in range(5):
        write_lines(log, round_ * 100, 100)
        rotate_logs(tmp_path, max_bytes=500, keep=2)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gateway.log",
        "gateway.log.1",
        "gateway.log.2",
    ]
    assert rotated(log, 1).read_text().startswith("line 400\n")
    assert rotated(log, 2).read_text().startswith("line 300\n")


def test_a_writer_that_kept_its_file_open_writes_from_the_start_after_rotation(
    tmp_path: Path,
) -> None:
    log = tmp_path / "catalog-1.log"
    with log.open("a") as writer:  # like a child's stdout: opened once, for appending
        writer.write("before\n" * 100)
        writer.flush()
        rotate_if_large(log, max_bytes=10, keep=1)
        writer.write("after\n")
        writer.flush()

    assert log.read_text() == "after\n"


def test_tail_reaches_into_the_rotated_copy_when_the_log_just_rotated(tmp_path: Path) -> None:
    log = tmp_path / "catalog-1.log"
    write_lines(log, 0, 50)
    rotate_if_large(log, max_bytes=10, keep=1)
    write_lines(log, 50, 2)

    assert tail(log, 4).splitlines() == ["line 48", "line 49", "line 50", "line 51"]


def test_following_continues_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    write_lines(log, 0, 10)
    follower = Follower(log)  # like `shop logs -f`: starts at the end
    try:
        write_lines(log, 10, 30)
        assert follower.new_lines() == [f"line {n}" for n in range(10, 40)]

        rotate_if_large(log, max_bytes=10, keep=1)
        write_lines(log, 40, 2)

        assert follower.new_lines() == ["line 40", "line 41"]
    finally:
        follower.close()


def test_following_waits_for_the_rest_of_a_half_written_line(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("")
    follower = Follower(log)
    try:
        with log.open("a") as f:
            f.write("half")
        assert follower.new_lines() == []
        with log.open("a") as f:
            f.write(" and the rest\n")
        assert follower.new_lines() == ["half and the rest"]
    finally:
        follower.close()
