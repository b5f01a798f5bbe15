# A broker as fast as one on the LAN, for the uplink's firmware tests (never deployed): the
# uplink's stream, answered in place as the client writes, so that a PUBACK is there before the
# write returns, and the write then yields as MicroPython's asyncio StreamWriter.drain() always
# does (asyncio/stream.py). Over WLAN or PPP (uplink/net.py) the reader task can thus take a
# PUBACK before Mqtt.publish() has returned. sim/fakebroker.py is the broker the firmware tests
# check the client against otherwise (sessions, credentials, faults). OASIS MQTT Version 3.1.1,
# 2014, "§" below:
# - each packet the client writes is read by its fixed header (§2.2: type, remaining length);
#   only its first _HEAD bytes are kept, enough for a PUBLISH's topic and packet id;
# - CONNECT gets CONNACK accepted, session not present (§3.2.2), SUBSCRIBE its SUBACK with the
#   QoS asked for (§3.9), a QoS 1 PUBLISH its PUBACK (§3.4), PINGREQ its PINGRESP (§3.13);
# - send_down() puts a QoS 1 PUBLISH (§3.3) to the client; the client's PUBACK for it is read
#   and dropped.
import asyncio
import errno

from micropython import const

_HEAD = const(64)  # the first bytes of a packet kept: topic length, topic, packet id
_RX = const(512)  # bytes waiting for the client to read


class Broker:
    NAME = "fast"

    def __init__(self):
        self.rx = bytearray(_RX)
        self.r = 0
        self.w = 0
        self.ev = asyncio.Event()
        self.head = bytearray(_HEAD)
        self.closed = True
        self.bytes_in = 0  # PUBLISH payload bytes from the client
        self.published = 0
        self._pid = 0
        self._st = 0  # 0: fixed header byte, 1: remaining length, 2: variable header and payload
        self._b0 = 0
        self._rl = 0
        self._mul = 1
        self._got = 0

    # -- the uplink's stream (stream_factory() returns the broker itself: one connection) ------
    def stream(self):
        return self

    async def open(self, host, port, tls, ca):
        self.r = self.w = 0
        self._st = 0
        self.closed = False

    def close(self):
        self.closed = True
        self.ev.set()

    async def write(self, mv):
        if self.closed:
            raise OSError(errno.ENOTCONN)
        for c in mv:
            if self._st == 0:
                self._b0 = c
                self._rl = self._got = 0
                self._mul = 1
                self._st = 1
            elif self._st == 1:
                self._rl += (c & 0x7F) * self._mul
                self._mul <<= 7
                if not c & 0x80:
                    self._st = 2
                    if not self._rl:
                        self._packet()
            else:
                if self._got < _HEAD:
                    self.head[self._got] = c
                self._got += 1
                if self._got == self._rl:
                    self._packet()
        await asyncio.sleep_ms(0)  # as StreamWriter.drain(): the reader may run before we return

    async def read_into(self, mv):
        while self.r == self.w:
            if self.closed:
                raise OSError(errno.ENOTCONN)
            self.ev.clear()
            await self.ev.wait()
        n = min(len(mv), self.w - self.r)
        rx, r = self.rx, self.r
        for i in range(n):
            mv[i] = rx[r + i]
        self.r = r + n
        if self.r == self.w:
            self.r = self.w = 0
        return n

    # -- the broker's side ----------------------------------------------------------------------
    def send_down(self, cid, topic, payload):
        """A QoS 1 PUBLISH of payload (bytes) on topic (str) to the connected client."""
        self._pid = self._pid % 65535 + 1
        n = 2 + len(topic) + 2 + len(payload)
        self._put(0x32)
        while True:  # remaining length, §2.2.3
            d = n & 0x7F
            n >>= 7
            self._put(d | 0x80 if n else d)
            if not n:
                break
        self._put(len(topic) >> 8)
        self._put(len(topic) & 0xFF)
        for ch in topic:
            self._put(ord(ch))
        self._put(self._pid >> 8)
        self._put(self._pid & 0xFF)
        for c in payload:
            self._put(c)
        self.ev.set()

    def _put(self, c):
        if self.w >= _RX:
            raise OSError(errno.ENOBUFS)  # the client stopped reading: a bench fault
        self.rx[self.w] = c
        self.w += 1

    def _packet(self):
        self._st = 0
        t = self._b0 & 0xF0
        h = self.head
        if t == 0x10:  # CONNECT
            self._put(0x20)
            self._put(2)
            self._put(0)
            self._put(0)
        elif t == 0x80:  # SUBSCRIBE: packet id, one topic filter, its QoS last
            self._put(0x90)
            self._put(3)
            self._put(h[0])
            self._put(h[1])
            self._put(h[min(self._rl, _HEAD) - 1])
        elif t == 0x30:  # PUBLISH
            p = 2 + ((h[0] << 8) | h[1])
            if (self._b0 >> 1) & 3:
                self._put(0x40)
                self._put(2)
                self._put(h[p])
                self._put(h[p + 1])
                p += 2
            self.bytes_in += self._rl - p
            self.published += 1
        elif t == 0xC0:  # PINGREQ
            self._put(0xD0)
            self._put(0)
        self.ev.set()
