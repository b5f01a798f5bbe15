"""Deep sleep on a virtual board: the queue and counters are carried across; a host handshake
in the maintenance window after a wake keeps the board awake."""

from __future__ import annotations

import json
import time

from test_link import Host
from vbhelp import WAIT_S, VBoards, mpremote


def test_deep_sleep_cycles_and_host_holds_the_board_awake(tmp_path):
    with VBoards(tmp_path / "sleep") as vb:
        port, did = vb.boards[0]
        cfg = {"device_id": did, "board": "sim", "interval_s": 2, "maint_window_ms": 1500,
               "sleep": {"deep": True}, "modem": {"enabled": False}}
        f = tmp_path / "config.json"
        f.write_text(json.dumps(cfg))
        mpremote(port, "fs", "cp", str(f), ":config.json")
        mpremote(port, "reset")
        host = Host(port)
        try:
            # Listen without a handshake: the board wakes, reports, sleeps, again and again.
            host.poll(WAIT_S, ack=False, until=lambda h: len({p["boot"] for p in h.records.values()}) >= 4)
            boots = sorted({p["boot"] for p in host.records.values()})
            assert len(boots) >= 4, boots
            wakes = [p["values"]["reset"] for p in host.records.values()
                     if p["kind"] == "event" and p["values"]["event"] == "boot"]
            assert wakes.count("deepsleep") >= 3, wakes
            seqs = sorted(host.records)
            assert seqs == list(range(seqs[0], seqs[-1] + 1))  # +1 across every sleep
            assert "deepsleep" in vb.log_text() or vb.log_text().count("reset cause 4") >= 3
            # Now a host says hello to the next wake: the board must stay awake. The host keeps
            # saying it, so that it lands in the 1.5 s maintenance window however slowly this
            # machine turns the board's hello around (what it sends while the board sleeps is
            # lost, as on a UART).
            host.hellos.clear()
            deadline = time.monotonic() + WAIT_S
            while not any(h["hold"] for h in host.hellos):
                assert time.monotonic() < deadline, "the board never took a hello in its window"
                host.send("hello")
                host.poll(0.2, ack=True, until=lambda h: any(x["hold"] for x in h.hellos))
            host.poll(3, ack=True)
            n_boot = len({p["boot"] for p in host.records.values()})
            host.poll(8, ack=True)
            assert len({p["boot"] for p in host.records.values()}) == n_boot, "slept while held"
            assert any(h["hold"] for h in host.hellos)
            # Everything that was queued while nobody acked has now been delivered.
            assert seqs[0] == 1 or min(host.records) == 1
            host.send("bye")
            host.poll(WAIT_S, ack=True, until=lambda h: len({p["boot"] for p in h.records.values()}) > n_boot)
            assert len({p["boot"] for p in host.records.values()}) > n_boot, "did not sleep after bye"
        finally:
            host.close()
