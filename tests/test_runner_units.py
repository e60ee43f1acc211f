"""Pure-Python pieces of the runners."""

from faktory.runner.qemu import console_text


def test_console_text_keeps_characters_split_across_reads():
    data = "┏━━┓ Grüße\r\n€\r\n".encode()
    for cut in range(1, len(data)):  # every split point, the middle of each multi-byte character included
        assert "".join(console_text([data[:cut], data[cut:]])) == "┏━━┓ Grüße\n€\n", cut
    assert "".join(console_text([b"ok \xff\n"])) == "ok \ufffd\n"  # bytes that are not UTF-8 still show
    assert "".join(console_text([b"cut \xe2\x82"])) == "cut \ufffd"  # an unfinished character at the end


def test_unikernel_boot_lines_are_not_app_output_and_a_crash_has_a_cause():
    from faktory.runner.qemu import BootResult

    console = "en1: Added\nen1: Interface is up\nPowered by Unikraft Telesto (0.16.3)\nsku  name\n3 items\n"
    assert BootResult(console, None, banner="Powered by Unikraft").app_output == "sku  name\n3 items"
    crashed = BootResult("Powered by Unikraft Telesto (0.16.3)\n[    0.2] CRIT: [libukvmem] Assertion failure: "
                         "fault->type & 0x04\n", None, timed_out=True)
    tail, cause = crashed.post_mortem()
    assert cause == "Assertion failure: fault->type & 0x04" and tail[-1].endswith("0x04")
    oom = BootResult("", None, qemu_returncode=0, kernel_log="[ 1.7] Kernel panic - not syncing: System is "
                     "deadlocked on memory\n")
    assert oom.post_mortem()[1].startswith("out of memory")
