# MQTT 3.1.1 client (OASIS MQTT Version 3.1.1, 2014; "§" below) for the uplink: QoS 0/1
# publish, QoS 1 subscribe, keepalive, clean or persistent sessions, over any stream object
# (docs/uplink.md "Transports"). Connect/reconnect policy lives in uplink.session; this class
# is one connection.
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
_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)  # §3.8.1: reserved flags 0010
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)
_HDR_MAX = const(5)  # §2.2.3: 1 type byte + at most 4 bytes of remaining length
_ENOTCONN = const(107)
_ETIMEDOUT = const(110)
_EPROTO = const(71)

# §3.2.2.3 CONNACK return codes
REFUSED_VERSION = const(1)
REFUSED_ID = const(2)
REFUSED_UNAVAILABLE = const(3)
REFUSED_CREDENTIALS = const(4)
REFUSED_NOT_AUTHORISED = const(5)


class MqttError(OSError):
    pass


class LinkError(OSError):
    """A transport that could not connect; .what names why for the uplink_error event
    (docs/uplink.md: dns, network, refused, tls, connect), .code the modem's result code."""

    def __init__(self, what, code=0):
        super().__init__(errno.ECONNREFUSED if what == "refused" else errno.EIO, what)
        self.what = what
        self.code = code


class ConnectRefused(MqttError):
    """CONNACK with a non-zero return code (§3.2.2.3); .code is it."""

    def __init__(self, code):
        super().__init__(_EPROTO, "connack %d" % code)
        self.code = code


def _put_str(buf, off, s):
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
    close()). on_message(topic, payload) gets memoryviews valid during the call;
    on_puback(pid) is called for every PUBACK."""

    def __init__(self, stream, client_id, keepalive_s=120, clean=False, user=None, password=None,
                 bufsize=1024, rxsize=256, on_message=None, on_puback=None, clock=None):
        self.stream = stream
        self.client_id = client_id.encode() if isinstance(client_id, str) else client_id
        self.keepalive_s = keepalive_s
        self.clean = clean
        self.user = user.encode() if isinstance(user, str) else user
        self.password = password.encode() if isinstance(password, str) else password
        self.tx = bytearray(bufsize)
        self.txv = memoryview(self.tx)
        # incoming packets are commands, CONNACK, SUBACK, PUBACK: small; a larger one is read
        # away and counted in .dropped
        self.rx = bytearray(rxsize)
        self.rxv = memoryview(self.rx)
        self._hb = bytearray(1)  # the reader's header bytes
        self._hbv = memoryview(self._hb)
        self._ack = bytearray(4)  # PUBACK (reader)
        self._ctl = bytearray(2)  # PINGREQ, DISCONNECT (other tasks)
        self.on_message = on_message
        self.on_puback = on_puback
        self.clock = clock or time.ticks_ms
        self._pid = 0
        self._lock = asyncio.Lock()  # one packet written at a time
        self._connack = -1
        self._suback = None
        self._ev = asyncio.Event()
        self.session_present = False
        self.connected = False
        self.last_tx = self.last_rx = self.clock()
        self._ping_at = None
        self.dropped = 0  # incoming packets larger than the buffer
        self.err = None  # why the connection ended (an OSError)
        self._tasks = None

    # -- connection ------------------------------------------------------------------------
    async def connect(self, timeout_ms=30000):
        """CONNECT and wait for CONNACK (§3.1, §3.2). Raises ConnectRefused (a return code),
        OSError(ETIMEDOUT) or the stream's OSError. Starts the reader and keepalive tasks."""
        t = self.tx
        cid = self.client_id
        n = 10 + 2 + len(cid)
        flags = 0x02 if self.clean else 0  # §3.1.2.4 clean session
        if self.user is not None:
            n += 2 + len(self.user)
            flags |= 0x80  # §3.1.2.8
            if self.password is not None:
                n += 2 + len(self.password)
                flags |= 0x40  # §3.1.2.9
        off = self._fixed(t, 0, _CONNECT, n)
        off = _put_str(t, off, b"MQTT")  # §3.1.2.1 protocol name
        t[off] = 4  # §3.1.2.2 protocol level 4 = 3.1.1
        t[off + 1] = flags
        t[off + 2] = self.keepalive_s >> 8
        t[off + 3] = self.keepalive_s & 0xFF
        off = _put_str(t, off + 4, cid)
        if self.user is not None:
            off = _put_str(t, off, self.user)
            if self.password is not None:
                off = _put_str(t, off, self.password)
        self._connack = -1
        self._ev.clear()
        self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._keepalive()))
        await self._write(self.txv[:off])
        await self._wait(lambda: self._connack >= 0, timeout_ms)
        if self._connack:
            code = self._connack
            self.close()
            raise ConnectRefused(code)
        self.connected = True
        return self.session_present

    def close(self, err=None):
        """Drop the connection (no DISCONNECT: a will, if any, is published by the broker)."""
        if err is not None and self.err is None:
            self.err = err
        self.connected = False
        if self._tasks:
            cur = asyncio.current_task()
            for tk in self._tasks:
                if tk is not cur:
                    tk.cancel()
            self._tasks = None
        try:
            self.stream.close()
        except OSError:
            pass
        self._ev.set()

    async def disconnect(self):
        """A clean end (§3.14): the broker discards the will and closes."""
        try:
            self._ctl[0] = _DISCONNECT
            self._ctl[1] = 0
            await self._write(self._ctl)
        except OSError:
            pass
        self.close()

    # -- publish / subscribe -----------------------------------------------------------------
    def payload_off(self, topic):
        """Where a payload for `topic` (QoS 1) goes in self.tx: write it there, then call
        publish(topic, off, end)."""
        return _HDR_MAX + 2 + len(topic) + 2

    def next_pid(self):
        self._pid = self._pid % 65535 + 1  # §2.3.1: non-zero 16-bit packet identifier
        return self._pid

    async def publish(self, topic, off, end, qos=1, retain=False):
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
        _put_str(t, p, topic)
        rl = end - p
        p -= 1 + _varint_len(rl)
        self._fixed(t, p, _PUBLISH | (qos << 1) | (1 if retain else 0), rl)
        await self._write(self.txv[p:end])
        return pid

    async def publish_bytes(self, topic, data, qos=1):
        off = self.payload_off(topic)
        self.tx[off : off + len(data)] = data
        return await self.publish(topic, off, off + len(data), qos)

    async def subscribe(self, topic, qos=1, timeout_ms=30000):
        """SUBSCRIBE one topic filter and wait for its SUBACK (§3.8, §3.9); returns the
        granted QoS. Raises MqttError when the broker refuses (0x80)."""
        t = self.tx
        pid = self.next_pid()
        off = self._fixed(t, 0, _SUBSCRIBE, 2 + 2 + len(topic) + 1)
        t[off] = pid >> 8
        t[off + 1] = pid & 0xFF
        off = _put_str(t, off + 2, topic)
        t[off] = qos
        self._suback = None
        await self._write(self.txv[: off + 1])
        await self._wait(lambda: self._suback is not None, timeout_ms)
        if self._suback == 0x80:
            raise MqttError(_EPROTO, "suback refused")
        return self._suback

    # -- internals -----------------------------------------------------------------------------
    def _fixed(self, buf, off, b0, rl):
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

    async def _write(self, mv):
        async with self._lock:
            try:
                await self.stream.write(mv)
            except OSError as e:
                self.close(e)
                raise
            self.last_tx = self.clock()

    async def _wait(self, cond, timeout_ms):
        t0 = self.clock()
        while not cond():
            if self._tasks is None:  # closed meanwhile
                raise self.err or MqttError(_ENOTCONN)
            left = timeout_ms - time.ticks_diff(self.clock(), t0)
            if left <= 0:
                self.close(OSError(_ETIMEDOUT))
                raise OSError(_ETIMEDOUT)
            self._ev.clear()
            try:
                await asyncio.wait_for_ms(self._ev.wait(), min(left, 1000))
            except asyncio.TimeoutError:
                pass

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
                await self._write(c)
        elif typ == _PUBACK:
            if self.on_puback is not None:
                self.on_puback((rx[0] << 8) | rx[1])
        elif typ == _CONNACK:
            self.session_present = bool(rx[0] & 1)  # §3.2.2.2
            self._connack = rx[1]
        elif typ == _SUBACK:
            self._suback = rx[2]
        # PINGRESP: last_rx is enough
        self._ev.set()

    async def _keepalive(self):
        # §3.1.2.10: a control packet at least every keepalive; PINGREQ when idle. No answer
        # within half a keepalive means the link is dead (docs/uplink.md).
        ka = self.keepalive_s * 1000
        if not ka:
            return
        while True:
            await asyncio.sleep_ms(min(ka // 4, 5000))
            now = self.clock()
            if self._ping_at is not None and time.ticks_diff(now, self._ping_at) > ka // 2:
                self.close(OSError(_ETIMEDOUT, "no PINGRESP"))
                return
            if self._ping_at is None and (time.ticks_diff(now, self.last_tx) >= ka - ka // 4
                                          or time.ticks_diff(now, self.last_rx) >= ka):
                self._ping_at = now
                c = self._ctl
                c[0] = _PINGREQ
                c[1] = 0
                try:
                    await self._write(c)
                except OSError:
                    return
