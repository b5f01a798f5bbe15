# MQTT 3.1.1 client (OASIS MQTT Version 3.1.1, 2014; "§" below) for the uplink: QoS 0/1
# publish, QoS 1 subscribe, keepalive, clean or persistent sessions, over any stream object
# (docs/uplink.md "Transports"). Connect/reconnect policy lives in uplink.session; this class
# is one connection once it is up. CONNECT and SUBSCRIBE, which run once per connection, are in
# uplink/connect.py, loaded for the call (docs/memory.md).
#
# Why not micropython-lib's umqtt.simple / umqtt.robust: they open their own socket
# (socket.getaddrinfo + socket.connect inside connect()) and block on sock.read(), while the
# modem's sockets are AT commands driven by the asyncio AT engine (AT+CASEND/AT+CARECV), and
# they allocate a bytes object per packet. Peter Hinch's mqtt_as takes the network.WLAN socket
# too. This client takes an async stream, builds PUBLISH packets in place around a payload the
# encoder wrote into its buffer (no copy, no per-message allocation) and reads packets into one
# preallocated buffer.
import asyncio
import errno
import time

from micropython import const

# §2.2.1 control packet types (upper nibble of byte 1)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_HDR_MAX = const(5)  # §2.2.3: 1 type byte + at most 4 bytes of remaining length
_ENOTCONN = const(107)
_ETIMEDOUT = const(110)
_EPROTO = const(71)


class MqttError(OSError):
    pass


class LinkError(OSError):
    """A transport that could not connect; .what names why for the uplink_error event
    (docs/uplink.md: dns, network, refused, tls, connect), .code the modem's result code."""

    def __init__(self, what, code=0):
        super().__init__(errno.ECONNREFUSED if what == "refused" else errno.EIO, what)
        self.what = what
        self.code = code


def put_str(buf, off, s):
    # §1.5.3 UTF-8 string: 2-byte length, then the bytes
    n = len(s)
    buf[off] = n >> 8
    buf[off + 1] = n & 0xFF
    for j in range(n):
        buf[off + 2 + j] = s[j]
    return off + 2 + n


def _varint_len(n):
    return 1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4


class Mqtt:
    """One MQTT connection over `stream` (async write(mv), async read_into(mv) -> n >= 1,
    close()); uplink/connect.py makes it and sends CONNECT and SUBSCRIBE. on_message(topic,
    payload) gets memoryviews valid during the call; on_puback(pid) is called for every PUBACK."""

    def __init__(self, stream, keepalive_s, bufsize, on_message, on_puback, clock, rxsize=256):
        self.stream = stream
        self.keepalive_s = keepalive_s
        self.tx = bytearray(bufsize)
        self.txv = memoryview(self.tx)
        # incoming packets are commands, CONNACK, SUBACK, PUBACK: small; a larger one is read
        # away and counted in .dropped
        self.rx = bytearray(rxsize)
        self.rxv = memoryview(self.rx)
        self._hb = bytearray(1)  # the reader's header bytes
        self._hbv = memoryview(self._hb)
        self._ack = bytearray(4)  # PUBACK (reader)
        self._ctl = bytearray(2)  # PINGREQ (tick)
        self.on_message = on_message
        self.on_puback = on_puback
        self.clock = clock
        self._pid = 0
        # one packet written at a time (a flag and an Event: asyncio.Lock would load asyncio's
        # lock module, 1.8 KB on the 64-bit port, on a board whose AT engine does not)
        self._busy = False
        self._free = asyncio.Event()
        self.connack = -1
        self.suback = -1
        self.ev = asyncio.Event()
        self.session_present = False
        self.connected = False
        self.last_tx = self.last_rx = clock()
        self._ping_at = None
        self.dropped = 0  # incoming packets larger than the buffer
        self.err = None  # why the connection ended (an OSError)
        self.task = None  # the reader

    def start(self):
        """The reader task (uplink/connect.py, before CONNECT)."""
        self.task = asyncio.create_task(self._reader())

    def close(self, err=None):
        """Drop the connection (no DISCONNECT: a will, if any, is published by the broker)."""
        if err is not None and self.err is None:
            self.err = err
        self.connected = False
        if self.task is not None:
            if self.task is not asyncio.current_task():
                self.task.cancel()
            self.task = None
        try:
            self.stream.close()
        except OSError:
            pass
        self.ev.set()

    # -- publish -----------------------------------------------------------------------------
    def payload_off(self, topic):
        """Where a payload for `topic` (QoS 1) goes in self.tx: write it there, then call
        publish(topic, off, end)."""
        return _HDR_MAX + 2 + len(topic) + 2

    def next_pid(self):
        self._pid = self._pid % 65535 + 1  # §2.3.1: non-zero 16-bit packet identifier
        return self._pid

    async def publish(self, topic, off, end, qos=1):
        """Publish the payload at self.tx[off:end] (see payload_off). Returns the packet id
        (QoS 1) or 0 (QoS 0). The PUBACK arrives later through on_puback."""
        if not self.connected:
            raise MqttError(_ENOTCONN)
        t = self.tx
        pid = self.next_pid() if qos else 0
        p = off
        if qos:
            p -= 2
            t[p] = pid >> 8
            t[p + 1] = pid & 0xFF
        p -= 2 + len(topic)
        put_str(t, p, topic)
        rl = end - p
        p -= 1 + _varint_len(rl)
        self.fixed(t, p, _PUBLISH | (qos << 1), rl)
        await self.write(self.txv[p:end])
        return pid

    # -- internals -----------------------------------------------------------------------------
    def fixed(self, buf, off, b0, rl):
        # §2.2: the type byte and the remaining length, 7 bits a byte, low group first
        buf[off] = b0
        off += 1
        while True:
            d = rl & 0x7F
            rl >>= 7
            buf[off] = d | (0x80 if rl else 0)
            off += 1
            if not rl:
                return off

    async def write(self, mv):
        while self._busy:
            self._free.clear()
            await self._free.wait()
        self._busy = True
        try:
            await self.stream.write(mv)
        except OSError as e:
            self.close(e)
            raise
        finally:
            self._busy = False
            self._free.set()
        self.last_tx = self.clock()

    async def _read(self, mv, n):
        got = 0
        while got < n:
            k = await self.stream.read_into(mv[got:n])
            if not k:
                raise MqttError(_ENOTCONN, "closed by peer")
            got += k

    async def _reader(self):
        one = self._hbv
        hb = self._hb
        rx = self.rx
        rxv = self.rxv
        try:
            while True:
                await self._read(one, 1)
                b0 = hb[0]
                rl = 0
                mul = 1
                for _ in range(4):
                    await self._read(one, 1)
                    rl += (hb[0] & 0x7F) * mul
                    mul <<= 7
                    if not hb[0] & 0x80:
                        break
                if rl > len(rx):
                    # too big for the buffer: read it away in buffer-sized pieces
                    self.dropped += 1
                    while rl:
                        k = min(rl, len(rx))
                        await self._read(rxv, k)
                        rl -= k
                    continue
                await self._read(rxv, rl)
                self.last_rx = self.clock()
                self._ping_at = None
                await self._packet(b0, rl)
        except asyncio.CancelledError:
            raise
        except OSError as e:
            self.close(e)
        except Exception as e:  # noqa: BLE001 - a garbled packet ends this connection only
            self.close(MqttError(_EPROTO, repr(e)[:40]))

    async def _packet(self, b0, rl):
        rx = self.rx
        typ = b0 & 0xF0
        if typ == _PUBLISH:
            qos = (b0 >> 1) & 3
            tl = (rx[0] << 8) | rx[1]
            p = 2 + tl
            pid = 0
            if qos:
                pid = (rx[p] << 8) | rx[p + 1]
                p += 2
            if self.on_message is not None:
                try:
                    r = self.on_message(self.rxv[2 : 2 + tl], self.rxv[p:rl])
                    if r is not None and hasattr(r, "send"):
                        await r
                except Exception as e:  # noqa: BLE001 - a handler bug must not drop the link
                    print("mqtt: on_message:", repr(e))
            if qos == 1:  # §4.3.2: PUBACK after the message is handled
                c = self._ack
                c[0] = _PUBACK
                c[1] = 2
                c[2] = pid >> 8
                c[3] = pid & 0xFF
                await self.write(c)
        elif typ == _PUBACK:
            if self.on_puback is not None:
                self.on_puback((rx[0] << 8) | rx[1])
        elif typ == _CONNACK:
            self.session_present = bool(rx[0] & 1)  # §3.2.2.2
            self.connack = rx[1]
        elif typ == _SUBACK:
            self.suback = rx[2]
        # PINGRESP: last_rx is enough
        self.ev.set()

    async def tick(self):
        """Keepalive (§3.1.2.10): a control packet at least every keepalive, PINGREQ when idle;
        no answer within half a keepalive means the link is dead (docs/uplink.md). The owner
        (uplink/session.py) calls it at least every second: a task of its own would cost a
        Task and a frame for a check a second."""
        ka = self.keepalive_s * 1000
        if not ka or not self.connected:
            return
        now = self.clock()
        if self._ping_at is not None:
            if time.ticks_diff(now, self._ping_at) > ka // 2:
                self.close(OSError(_ETIMEDOUT, "no PINGRESP"))
            return
        if time.ticks_diff(now, self.last_tx) >= ka - ka // 4 or time.ticks_diff(now, self.last_rx) >= ka:
            self._ping_at = now
            c = self._ctl
            c[0] = _PINGREQ
            c[1] = 0
            try:
                await self.write(c)
            except OSError:
                pass
