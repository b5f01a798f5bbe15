# An in-memory MQTT 3.1.1 broker and stream pair (never deployed) for the uplink's firmware tests
# and bench (MicroPython, virtual time): enough of OASIS MQTT 3.1.1 to check the client: CONNECT/CONNACK (with a
# configurable return code and credentials), SUBSCRIBE/SUBACK, PUBLISH QoS 0/1 both ways with
# PUBACK, PINGREQ/PINGRESP, and a persistent session that keeps QoS 1 messages for a client
# that is away (§3.1.2.4). The real broker (Mosquitto) is in the host tests.
import asyncio
import errno


class End:
    """One end of an in-memory byte stream with the uplink transport API."""

    NAME = "fake"

    def __init__(self):
        self.buf = bytearray()
        self.ev = asyncio.Event()
        self.peer = None
        self.closed = False
        self.written = 0

    async def write(self, mv):
        if self.closed or self.peer is None or self.peer.closed:
            raise OSError(errno.ENOTCONN)
        self.peer.buf.extend(mv)
        self.written += len(mv)
        self.peer.ev.set()

    async def read_into(self, mv):
        while not self.buf:
            if self.closed:
                raise OSError(errno.ENOTCONN)
            if self.peer is None or self.peer.closed:
                return 0
            self.ev.clear()
            await self.ev.wait()
        n = min(len(mv), len(self.buf))
        mv[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n

    def close(self):
        self.closed = True
        self.ev.set()
        if self.peer is not None:
            self.peer.ev.set()


class TcpEnd:
    """The broker's end of a real TCP connection (asyncio streams), same API as End."""

    def __init__(self, r, w):
        self.r = r
        self.w = w
        self.closed = False

    async def read_into(self, mv):
        d = await self.r.read(len(mv))
        if not d:
            return 0
        mv[: len(d)] = d
        return len(d)

    async def write(self, mv):
        if self.closed:
            raise OSError(errno.ENOTCONN)
        self.w.write(bytes(mv))
        await self.w.drain()

    def close(self):
        if not self.closed:
            self.closed = True
            self.w.close()


def pair():
    a, b = End(), End()
    a.peer, b.peer = b, a
    return a, b


class Broker:
    def __init__(self, user=None, password=None, connack=0, keep=True):
        self.up = True
        self.keep = keep  # False: count what is published, keep nothing (long benches)
        self.bytes_in = 0
        self.user = user
        self.password = password
        self.connack = connack  # forced return code (0: check credentials)
        self.answer_pings = True
        self.hold_puback = False
        self.published = []  # (topic str, payload bytes, qos, dup)
        self.connects = []  # (client id, clean, user, password, keepalive)
        self.subs = {}  # client id -> [topic]
        self.pending = {}  # client id -> [(topic, payload)] for a persistent session
        self.conns = {}  # client id -> End (broker side)
        self.pings = 0
        self._pid = 0
        self.attempts = []  # virtual ms of every open()

    # -- the client's transport --------------------------------------------------------------
    def stream(self, clock=None):
        broker = self

        class Stream(End):
            async def open(self, host, port, tls, ca):
                if clock is not None:
                    broker.attempts.append(clock())
                if not broker.up:
                    raise OSError(errno.ECONNREFUSED)
                srv = End()
                self.peer, srv.peer = srv, self
                asyncio.create_task(broker._serve(srv))

        return Stream()

    async def serve_tcp(self):
        """Listen on a free loopback port for real TCP clients; returns (server, port)."""
        import random

        for _ in range(50):
            port = 20000 + random.getrandbits(14)
            try:
                srv = await asyncio.start_server(lambda r, w: self._serve(TcpEnd(r, w)), "127.0.0.1", port)
                return srv, port
            except OSError:
                pass
        raise OSError(errno.EADDRINUSE)

    def drop(self, cid=None):
        """Cut the connection(s) as a network outage would."""
        for k in list(self.conns):
            if cid is None or k == cid:
                self.conns.pop(k).close()

    def send_down(self, cid, topic, payload):
        """A QoS 1 message to a client: now if connected, else kept for its session."""
        end = self.conns.get(cid)
        if end is None:
            self.pending.setdefault(cid, []).append((topic, payload))
            return
        asyncio.create_task(self._publish(end, topic, payload))

    def payloads(self, topic):
        return [p for t, p, _q, _d in self.published if t == topic]

    # -- server side -----------------------------------------------------------------------
    async def _read(self, end, n):
        out = bytearray(n)
        mv = memoryview(out)
        got = 0
        while got < n:
            k = await end.read_into(mv[got:])
            if not k:
                raise OSError(errno.ENOTCONN)
            got += k
        return bytes(out)

    async def _packet(self, end):
        b0 = (await self._read(end, 1))[0]
        rl = 0
        mul = 1
        while True:
            c = (await self._read(end, 1))[0]
            rl += (c & 0x7F) * mul
            mul <<= 7
            if not c & 0x80:
                break
        return b0, (await self._read(end, rl)) if rl else b""

    async def _publish(self, end, topic, payload):
        self._pid = self._pid % 65535 + 1
        t = topic.encode()
        body = bytes((len(t) >> 8, len(t) & 0xFF)) + t + bytes((self._pid >> 8, self._pid & 0xFF)) + payload
        await end.write(bytes((0x32,)) + _rl(len(body)) + body)

    async def _serve(self, end):
        cid = None
        try:
            b0, body = await self._packet(end)
            assert b0 == 0x10, b0
            assert body[:7] == b"\x00\x04MQTT\x04", body[:7]
            flags = body[7]
            ka = (body[8] << 8) | body[9]
            p = 10
            n = (body[p] << 8) | body[p + 1]
            cid = body[p + 2 : p + 2 + n].decode()
            p += 2 + n
            user = password = None
            if flags & 0x80:
                n = (body[p] << 8) | body[p + 1]
                user = body[p + 2 : p + 2 + n].decode()
                p += 2 + n
            if flags & 0x40:
                n = (body[p] << 8) | body[p + 1]
                password = body[p + 2 : p + 2 + n].decode()
            clean = bool(flags & 2)
            self.connects.append((cid, clean, user, password, ka))
            rc = self.connack
            if not rc and self.user is not None and (user != self.user or password != self.password):
                rc = 4
            present = not clean and cid in self.subs
            await end.write(bytes((0x20, 2, 1 if present and not rc else 0, rc)))
            if rc:
                end.close()
                return
            if clean:
                self.subs.pop(cid, None)
                self.pending.pop(cid, None)
            self.conns[cid] = end
            for topic, payload in self.pending.pop(cid, []):
                await self._publish(end, topic, payload)
            while True:
                b0, body = await self._packet(end)
                typ = b0 & 0xF0
                if typ == 0x30:
                    qos = (b0 >> 1) & 3
                    n = (body[0] << 8) | body[1]
                    topic = body[2 : 2 + n].decode()
                    p = 2 + n
                    pid = 0
                    if qos:
                        pid = (body[p] << 8) | body[p + 1]
                        p += 2
                    self.bytes_in += len(body) - p
                    if self.keep:
                        self.published.append((topic, bytes(body[p:]), qos, bool(b0 & 8)))
                    if qos == 1 and not self.hold_puback:
                        await end.write(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
                elif typ == 0x80:
                    pid = (body[0] << 8) | body[1]
                    n = (body[2] << 8) | body[3]
                    self.subs.setdefault(cid, []).append(body[4 : 4 + n].decode())
                    await end.write(bytes((0x90, 3, pid >> 8, pid & 0xFF, body[4 + n])))
                elif typ == 0xC0:
                    self.pings += 1
                    if self.answer_pings:
                        await end.write(b"\xd0\x00")
                elif typ == 0xE0:
                    break
        except OSError:
            pass
        finally:
            if cid is not None and self.conns.get(cid) is end:
                del self.conns[cid]
            end.close()


def _rl(n):
    out = bytearray()
    while True:
        d = n & 0x7F
        n >>= 7
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)
