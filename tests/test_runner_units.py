"""Pure-Python pieces of the runners."""

from faktory.runner.qemu import console_text


def test_console_text_keeps_characters_split_across_reads():
    data = "┏━━┓ Grüße\r\n€\r\n".encode()
    for cut in range(1, len(data)):  # every split point, the middle of each multi-byte character included
        assert "".join(console_text([data[:cut], data[cut:]])) == "┏━━┓ Grüße\n€\n", cut
    assert "".join(console_text([b"ok \xff\n"])) == "ok \ufffd\n"  # bytes that are not UTF-8 still show
    assert "".join(console_text([b"cut \xe2\x82"])) == "cut \ufffd"  # an unfinished character at the end
