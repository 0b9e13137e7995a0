"""``os-getConsoleOutput``'s ``length`` cuts the log as Nova's ``_tail_log`` does."""

from overcast.compute.consoles import tail_log


def test_tail_counts_items_split_on_newlines_as_nova() -> None:
    log = "one\ntwo\nthree\nfour\n"
    out = tail_log(log, 3)
    assert out == "three\nfour\n"
    assert len(out.split("\n")) == 3  # what Tempest's test_get_console_output checks


def test_tail_of_a_log_without_final_newline_and_short_logs() -> None:
    assert tail_log("a\nb\nc", 2) == "b\nc"
    assert tail_log("a\n", 10) == "a\n"
    assert tail_log("a\nb\n", 0) == ""
