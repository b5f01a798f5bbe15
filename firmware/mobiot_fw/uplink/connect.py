# What the uplink runs once per connection (docs/uplink.md "Connection", docs/memory.md): open
# the transport, MQTT CONNECT / CONNACK and SUBSCRIBE / SUBACK (OASIS MQTT Version 3.1.1, 2014;
# "§" below), and, after a connection ends or fails, its event and the backoff. session.py loads
# it with mobiot_fw.once() for the call and drops it: the steady loop (publish, PUBACK, the
# reader, keepalive) stays in session.py and mqtt.py, this code is not in RAM between connects.
import asyncio
import time

from micropython import const

from .mqtt import LinkError, Mqtt, MqttError, put_str

_CONNECT = const(0x10)
_SUBSCRIBE = const(0x82)  # §3.8.1: reserved flags 0010
_ETIMEDOUT = const(110)
_EPROTO = const(71)
_ENOTCONN = const(107)
_CONNECT_MS = const(30000)
_AUTH_FAILS = const(30)  # wrong credentials: the longest backoff, never a tight loop
# §3.2.2.3 CONNACK return codes 4 (bad user name or password) and 5 (not authorised)
_REFUSED_CREDENTIALS = const(4)
_REFUSED_NOT_AUTHORISED = const(5)


async def open(up):
    """A connected and subscribed Mqtt for Uplink `up`, its per-connection state reset and
    uplink_up said. Raises OSError (LinkError "auth" / "refused" with the CONNACK code when
    the broker refuses, §3.2.2.3)."""
    c = up.cfg
    st = up.stream_factory()
    await st.open(c["host"], c["port"] or (8883 if c["tls"] else 1883), c["tls"], c["ca"])
    mq = Mqtt(st, c["keepalive_s"], c["max_bytes"] + 40, up.on_message, up.on_puback, up.clock)
    try:
        await _connect(mq, ("mobiot-" + up.device).encode(), c["clean"], c["user"], c["password"])
        await _subscribe(mq, up.down, 1)
    except BaseException:
        mq.close()
        raise
    up.mq = mq
    up.up_since = up.clock()
    up.connects += 1
    up.event("uplink_up", ("transport", getattr(st, "NAME", "?")), ("tls", bool(c["tls"])))
    up.enc.reset()
    up.cursor = 0
    up.ring_n = 0
    up.inflight = 0
    up.hello()
    return mq


def ended(up, e):
    """A connection ended (e: why, an OSError, or None): its event, the failure count; returns
    the backoff in ms (docs/uplink.md: the n-th failure waits in [b/2, b], b = min(max, base * 2**n))."""
    if e is not None:
        what = getattr(e, "what", None) or ("timeout" if e.args and e.args[0] == _ETIMEDOUT else "connect")
        code = getattr(e, "code", None)
        if code is None:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
        if up.up_since is not None:
            up.event("uplink_down", ("err", what), ("code", code),
                     ("after_s", time.ticks_diff(up.clock(), up.up_since) // 1000))
        else:
            up.event("uplink_error", ("err", what), ("code", code))
        if what == "auth":
            up.fails = _AUTH_FAILS
    if up.up_since is not None:
        up.up_since = None
        up.fails = 0
    else:
        up.fails += 1
    c = up.cfg
    b = c["backoff_s"] * 1000
    for _ in range(min(up.fails, 20)):
        b *= 2
        if b >= c["backoff_max_s"] * 1000:
            b = c["backoff_max_s"] * 1000
            break
    if not up.fails:
        return 0
    return b // 2 + up.rand(16) * (b // 2) // 65536


async def _connect(mq, cid, clean, user, password):
    # CONNECT and wait for CONNACK (§3.1, §3.2); starts the reader task
    user = user.encode() if user else None
    password = password.encode() if password and user else None
    t = mq.tx
    n = 10 + 2 + len(cid)
    flags = 0x02 if clean else 0  # §3.1.2.4 clean session
    if user is not None:
        n += 2 + len(user)
        flags |= 0x80  # §3.1.2.8
        if password is not None:
            n += 2 + len(password)
            flags |= 0x40  # §3.1.2.9
    off = mq.fixed(t, 0, _CONNECT, n)
    off = put_str(t, off, b"MQTT")  # §3.1.2.1 protocol name
    t[off] = 4  # §3.1.2.2 protocol level 4 = 3.1.1
    t[off + 1] = flags
    t[off + 2] = mq.keepalive_s >> 8
    t[off + 3] = mq.keepalive_s & 0xFF
    off = put_str(t, off + 4, cid)
    if user is not None:
        off = put_str(t, off, user)
        if password is not None:
            off = put_str(t, off, password)
    mq.connack = -1
    mq.ev.clear()
    mq.start()
    await mq.write(mq.txv[:off])
    await _wait(mq, lambda: mq.connack >= 0)
    if mq.connack:
        code = mq.connack
        mq.close()
        auth = code == _REFUSED_CREDENTIALS or code == _REFUSED_NOT_AUTHORISED
        raise LinkError("auth" if auth else "refused", code)
    mq.connected = True


async def _subscribe(mq, topic, qos):
    # SUBSCRIBE one topic filter and wait for its SUBACK (§3.8, §3.9); 0x80 is a refusal
    t = mq.tx
    pid = mq.next_pid()
    off = mq.fixed(t, 0, _SUBSCRIBE, 2 + 2 + len(topic) + 1)
    t[off] = pid >> 8
    t[off + 1] = pid & 0xFF
    off = put_str(t, off + 2, topic)
    t[off] = qos
    mq.suback = -1
    await mq.write(mq.txv[: off + 1])
    await _wait(mq, lambda: mq.suback >= 0)
    if mq.suback == 0x80:
        raise MqttError(_EPROTO, "suback refused")


async def _wait(mq, cond):
    t0 = mq.clock()
    while not cond():
        if mq.task is None:  # closed meanwhile
            raise mq.err or MqttError(_ENOTCONN)
        left = _CONNECT_MS - time.ticks_diff(mq.clock(), t0)
        if left <= 0:
            mq.close(OSError(_ETIMEDOUT))
            raise OSError(_ETIMEDOUT)
        mq.ev.clear()
        try:
            await asyncio.wait_for_ms(mq.ev.wait(), min(left, 1000))
        except asyncio.TimeoutError:
            pass
