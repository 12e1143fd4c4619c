import threading

import pytest

from host.console_events import parse_event_line
from rig.drivers.base import ExpectTimeout
from rig.drivers.console import ConsoleLog


def test_event_lines_parse_and_other_lines_do_not() -> None:
    assert parse_event_line('EVT {"ev":"click","type":"SINGLE"}\r\n') == {
        "ev": "click",
        "type": "SINGLE",
    }
    assert parse_event_line("hello EVT {}") is None
    assert parse_event_line(">>> ") is None
    assert parse_event_line("EVT {broken")["ev"] == "_unparsed"  # type: ignore[index]
    assert parse_event_line('EVT ["no", "ev"]')["ev"] == "_unparsed"  # type: ignore[index]


def test_an_event_after_the_cut_off_line_of_a_reset_still_counts() -> None:
    """A board that lost power mid-print leaves half a line; its next boot prints on after it."""
    boot = 'EVT {"ev":"boot","reset":"power"}'
    assert parse_event_line("({'doubl" + boot) == {"ev": "boot", "reset": "power"}
    assert parse_event_line('EVT {"ev":"cli' + boot) == {"ev": "boot", "reset": "power"}
    assert parse_event_line("\x00\xff" + boot + "\r") == {"ev": "boot", "reset": "power"}
    # Only a whole event after noise counts: a REPL echo that mentions the prefix is not one.
    assert parse_event_line(""">>> print('EVT {"ev":"boot"}')""") is None
    assert parse_event_line('junk EVT {"no": "ev"}') is None


def test_events_split_across_chunks_and_utf8() -> None:
    log = ConsoleLog()
    data = 'boot text\r\nEVT {"ev":"boot","fw":"1.0"}\r\nEVT {"ev":"led","pattern":"gr\u00fcn"}\n'
    raw = data.encode()
    for i in range(len(raw)):  # one byte at a time: line and UTF-8 boundaries anywhere
        log.feed(raw[i : i + 1])
    assert log.events() == [{"ev": "boot", "fw": "1.0"}, {"ev": "led", "pattern": "gr\u00fcn"}]
    assert log.text() == data
    assert log.events("led") == [{"ev": "led", "pattern": "gr\u00fcn"}]


def test_expect_moves_a_cursor_and_matches_fields() -> None:
    log = ConsoleLog()
    log.feed(b'EVT {"ev":"click","type":"SINGLE","n":1}\nEVT {"ev":"click","type":"LONG","n":2}\n')
    assert log.expect("click", 1, type="LONG")["n"] == 2
    with pytest.raises(ExpectTimeout):
        log.expect("click", 0.05, type="SINGLE")  # already passed by the cursor


def test_expect_waits_for_an_event_fed_later() -> None:
    log = ConsoleLog()
    timer = threading.Timer(0.05, log.feed, args=(b'EVT {"ev":"boot"}\n',))
    timer.start()
    assert log.expect("boot", 10) == {"ev": "boot"}
    timer.join()


def test_expect_failure_lists_what_was_seen_instead() -> None:
    log = ConsoleLog()
    log.feed(b'EVT {"ev":"click","type":"DOUBLE"}\nTraceback: boom\n')
    with pytest.raises(ExpectTimeout) as info:
        log.expect("click", 0.05, type="SINGLE")
    message = str(info.value)
    assert '"type": "SINGLE"' in message
    assert '"type": "DOUBLE"' in message
    assert "Traceback: boom" in message


def test_marks_and_notes() -> None:
    log = ConsoleLog()
    log.feed(b'EVT {"ev":"a"}\n')
    mark = log.mark()
    log.note("power cut")
    log.feed(b'EVT {"ev":"b"}\n')
    assert log.events_since(mark) == [{"ev": "b"}]
    assert "[rig] power cut" in log.text()
    log.clear()
    assert log.events() == [] and log.text() == ""
