"""The uplink bench's broker and collector (bench/bench_uplink.py): a thread of the host process
that serves the firmware's one MQTT connection on a loopback port, so that neither a broker nor
a collector is in the heap the bench measures, and the firmware's own TCP stream (NetSock, as on
a board without a modem) is.

It answers as a broker does (OASIS MQTT Version 3.1.1, 2014, "§" below): CONNACK accepted,
session not present (§3.2.2), SUBACK with the QoS asked for (§3.9), PUBACK for a QoS 1 PUBLISH
(§3.4), PINGRESP (§3.13). It decodes every up message as the collector does
(mobiot.uplink_codec.decode_up) and, every ACK_EVERY messages, acks the records received so far
on the device's down topic (mobiot.codec.encode_acks, QoS 1 PUBLISH §3.3), as the collector does
after its commit. Written by hand: Mosquitto plus `mobiot collect` would do the same, but each
bisection step of the bench would then start both (the MQTT tests run them).
"""

from __future__ import annotations

import socket
import threading

from mobiot.codec import encode_acks
from mobiot.uplink_codec import decode_up

ACK_EVERY = 8  # messages per ack, as bench/fw_bench.py acks every 8 cycles


class AckBroker:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.messages = 0
        self.bytes_in = 0  # PUBLISH payload bytes from the firmware
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="ackbroker", daemon=True)
        self.thread.start()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not, on Linux)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(30)

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return  # closed
            with c:
                # the answers go out at once: Nagle's algorithm (RFC 896) would hold the ack
                # PUBLISH that follows a PUBACK until the firmware's TCP acknowledges the PUBACK
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    self._client(c)
                except OSError:
                    pass  # the firmware's process ended
                except Exception as e:  # a bench fault: the bench reports it
                    self.error = e

    def _client(self, c: socket.socket) -> None:
        f = c.makefile("rb")
        state: dict = {}
        seqs: list[int] = []
        pid = 0
        while True:
            h = f.read(1)
            if not h:
                return
            rl, mul = 0, 1
            while True:  # remaining length, §2.2.3
                b = f.read(1)
                if not b:
                    return
                rl += (b[0] & 0x7F) * mul
                mul <<= 7
                if not b[0] & 0x80:
                    break
            body = f.read(rl)
            t = h[0] & 0xF0
            if t == 0x10:
                c.sendall(b"\x20\x02\x00\x00")
            elif t == 0x80:
                c.sendall(bytes((0x90, 3, body[0], body[1], body[-1])))
            elif t == 0xC0:
                c.sendall(b"\xd0\x00")
            elif t == 0xE0:
                return
            elif t == 0x30:
                n = (body[0] << 8) | body[1]
                topic = body[2 : 2 + n].decode()
                p = 2 + n
                if (h[0] >> 1) & 3:
                    c.sendall(bytes((0x40, 2, body[p], body[p + 1])))
                    p += 2
                self.bytes_in += len(body) - p
                if not topic.endswith("/up"):
                    continue
                seqs += [r["seq"] for r in decode_up(topic, body[p:], state) if isinstance(r.get("seq"), int)]
                self.messages += 1
                if self.messages % ACK_EVERY == 0 and seqs:
                    down = topic[: -len("up")].encode() + b"down"
                    for line in encode_acks(seqs):
                        pid = pid % 65535 + 1
                        c.sendall(_publish(down, line, pid))
                    seqs = []


def _publish(topic: bytes, payload: bytes, pid: int) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + pid.to_bytes(2, "big") + payload
    n, rl = len(body), bytearray()
    while True:
        d, n = n & 0x7F, n >> 7
        rl.append(d | (0x80 if n else 0))
        if not n:
            return b"\x32" + bytes(rl) + body
