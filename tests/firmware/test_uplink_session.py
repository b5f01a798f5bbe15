# The uplink session (firmware/mobiot_fw/uplink/session.py) and MQTT client (mqtt.py) against
# an in-memory broker (fakebroker.py), in virtual time: delivery acked by !ack on the down
# topic only, resend after a reconnect, backoff with jitter, bad credentials, keepalive,
# commands down through one dispatcher, replies up. docs/uplink.md.
import asyncio
import json

import fileblockdev as fb

import cutblockdev as cb
from fakebroker import Broker
from modem_sim import VirtualTime
from mobiot_fw.link import proto
from mobiot_fw.store.flashq import Queue
from mobiot_fw.uplink.session import Uplink

DEV = "356938035643809"
UP = "mobiot/%s/up" % DEV
DOWN = "mobiot/%s/down" % DEV
REPLY = "mobiot/%s/reply" % DEV
CID = "mobiot-" + DEV
_n = [0]


def ucfg(**kw):
    c = {"enabled": True, "host": "broker", "port": 1883, "tls": False, "ca": "", "user": "", "password": "",
         "keepalive_s": 60, "clean": False, "encoding": "json", "batch": 1, "batch_wait_s": 30, "max_bytes": 1024,
         "window": 4, "resend_s": 300, "backoff_s": 5, "backoff_max_s": 600, "transport": "modem"}
    c.update(kw)
    return c


def queue():
    # one RAM flash for the file, a fresh queue directory per test
    if not _n[0]:
        fb.mount(cb.CutBlockDev(64), "/tu", mkfs=True)
    _n[0] += 1
    return Queue("/tu/q%d" % _n[0], max_records=500, max_bytes=64 * 1024, seg_records=8, seg_bytes=2048,
                 log_max=256)


def put(q, n, kind="reading"):
    buf = bytearray(300)
    for _ in range(n):
        seq = q.next_seq()
        end = proto.encode_record(buf, 0, DEV, 1, seq, 1764146800 + seq, "utc", kind, (("temp", 20 + seq / 100),))
        q.append(seq, memoryview(buf)[:end])


class Term:
    """The terminal's side: the one dispatcher (acks, interval) and its events."""

    def __init__(self, q):
        self.q = q
        self.events = []
        self.lines = []
        self.buf = bytearray(proto.FRAME_MAX)
        self.up = None
        self.cmds = None

    def event(self, name, *pairs):
        self.events.append((name, dict(pairs)))

    def names(self):
        return [e[0] for e in self.events]

    def dispatch(self, line, tr):
        # the firmware's one command dispatcher, as the terminal wires it (app.py)
        self.lines.append(line)
        if self.cmds is None:
            import asyncio

            from mobiot_fw import config
            from mobiot_fw.link.commands import Commands

            cfg, _ = config.validate({})
            self.cfg = cfg
            self.cfg_path = "/tu/config%d.json" % _n[0]
            self.cmds = Commands(self.q, cfg, self.cfg_path, None, asyncio.Event(), event=self.event)
        self.cmds.handle(line, tr)


def make(broker, q, vt, **kw):
    term = Term(q)
    up = Uplink(q, ucfg(**kw), DEV, lambda: broker.stream(vt.ticks_ms), term.dispatch, term.event,
                hello=(DEV, "0.1.0", "sim", 1), clock=vt.ticks_ms)
    term.up = up
    return term, up


def seqs(broker):
    out = []
    for p in broker.payloads(UP):
        for r in json.loads(p):
            out.append(r["seq"])
    return out


def ack(broker, a, b):
    broker.send_down(CID, DOWN, proto.encode_command("ack", "%d-%d" % (a, b)).encode())


async def until(cond, ms=600000):
    # virtual time: a long deadline costs nothing real
    t = 0
    while not cond():
        await asyncio.sleep_ms(100)
        t += 100
        if t > ms:
            raise AssertionError("condition not met in %d virtual ms" % ms)


def test_delivery_acked_only_by_the_collector():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    put(q, 5)
    term, up = make(broker, q, vt)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: len(seqs(broker)) == 5)
        assert seqs(broker) == [1, 2, 3, 4, 5]
        await asyncio.sleep(20)
        assert q.depth == 5  # PUBACKs free the window only: nothing left the queue
        assert broker.connects[0][1] is False  # persistent session (clean session 0)
        assert broker.subs[CID] == [DOWN]
        hello = broker.payloads(REPLY)[0]
        assert hello.startswith(b"H {") and json.loads(hello[2:])["device"] == DEV
        ack(broker, 1, 3)
        await until(lambda: q.depth == 2)
        ack(broker, 4, 5)
        await until(lambda: q.depth == 0)
        put(q, 2)
        up.kick()
        await until(lambda: len(seqs(broker)) == 7)
        assert seqs(broker)[5:] == [6, 7]
        assert "uplink_up" in term.names()
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_reconnect_resends_every_unacked_record():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    put(q, 4)
    term, up = make(broker, q, vt)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: len(seqs(broker)) == 4)
        ack(broker, 1, 2)
        await until(lambda: q.depth == 2)
        broker.up = False
        broker.drop()  # outage
        await until(lambda: "uplink_down" in term.names())
        put(q, 2)  # made while the link is down: they wait in the queue
        await asyncio.sleep(120)
        broker.up = True
        await until(lambda: len(seqs(broker)) >= 8)
        # after the reconnect: 3, 4 again (never acked), then 5, 6
        assert seqs(broker)[4:] == [3, 4, 5, 6], seqs(broker)
        assert len(broker.connects) == 2
        ack(broker, 3, 6)
        await until(lambda: q.depth == 0)
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_unacked_records_resent_after_resend_s():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    put(q, 2)
    term, up = make(broker, q, vt, resend_s=60)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: len(seqs(broker)) == 2)
        await asyncio.sleep(30)
        assert len(seqs(broker)) == 2
        await until(lambda: len(seqs(broker)) == 4, 120000)
        assert seqs(broker) == [1, 2, 1, 2]
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_backoff_is_exponential_with_jitter():
    vt = VirtualTime()
    broker = Broker()
    broker.up = False
    q = queue()
    term, up = make(broker, q, vt, backoff_s=5, backoff_max_s=300)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: len(broker.attempts) >= 9, 7200000)
        up.stop = True
        await task

    vt.run(main())
    gaps = [(b - a) for a, b in zip(broker.attempts, broker.attempts[1:])]
    # attempt n+1 waits in [b/2, b], b = min(300 s, 5 s * 2**n) (docs/uplink.md); no tight loop
    for n, g in enumerate(gaps):
        b = min(300000, 5000 * 2 ** (n + 1))
        assert b // 2 <= g <= b + 1500, (n, g, b)
    assert len(set(gaps[-3:])) > 1  # jitter: not in lock-step
    assert term.names().count("uplink_error") == len(broker.attempts)


def test_bad_credentials_event_and_long_backoff():
    vt = VirtualTime()
    broker = Broker(user="u", password="right")
    q = queue()
    term, up = make(broker, q, vt, user="u", password="wrong", backoff_s=5, backoff_max_s=600)

    async def main():
        task = asyncio.create_task(up.run())
        await asyncio.sleep(3600)
        up.stop = True
        await task

    vt.run(main())
    errs = [e[1] for e in term.events if e[0] == "uplink_error"]
    assert errs and errs[0] == {"err": "auth", "code": 4}
    # an hour of wrong credentials: at most one attempt per 300 s (the max backoff's lower half)
    assert 2 <= len(broker.attempts) <= 3600 // 300 + 1, broker.attempts
    assert broker.connects[0][2:4] == ("u", "wrong")


def test_keepalive_ping_and_dead_link_detected():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    term, up = make(broker, q, vt, keepalive_s=60)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: up.mq is not None and up.mq.connected)
        await asyncio.sleep(200)
        assert broker.pings >= 2 and len(broker.connects) == 1
        broker.answer_pings = False  # the network path dies silently
        n = broker.pings
        await until(lambda: "uplink_down" in term.names(), 200000)
        assert broker.pings == n + 1
        down = [e[1] for e in term.events if e[0] == "uplink_down"][0]
        assert down["err"] == "timeout"
        broker.answer_pings = True
        await until(lambda: len(broker.connects) == 2)
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_commands_down_go_to_the_dispatcher_and_replies_up():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    term, up = make(broker, q, vt)
    line = proto.encode_command("interval", "60")

    async def main():
        # a command sent while the terminal is away waits in its persistent session
        broker.subs[CID] = [DOWN]
        broker.send_down(CID, DOWN, line.encode())
        task = asyncio.create_task(up.run())
        await until(lambda: len(broker.payloads(REPLY)) >= 2)
        assert term.lines == [line]
        ks = [p for p in broker.payloads(REPLY) if p.startswith(b"K ")]
        assert [json.loads(k[2:]) for k in ks] == [{"cmd": "interval", "ok": True, "interval_s": 60}], ks
        assert sum(1 for p in broker.payloads(REPLY) if p.startswith(b"H {")) == 1
        broker.send_down(CID, DOWN, b"!interval 60*00")  # bad checksum: answered, not obeyed
        await until(lambda: len(broker.payloads(REPLY)) >= 3)
        assert json.loads(broker.payloads(REPLY)[2][2:])["err"] == "checksum"
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_batching_waits_for_a_full_batch_or_batch_wait():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    term, up = make(broker, q, vt, batch=4, batch_wait_s=30)

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: up.mq is not None and up.mq.connected)
        put(q, 3)
        up.kick()
        await asyncio.sleep(10)
        assert broker.payloads(UP) == []  # 3 < 4: waits
        put(q, 5)
        up.kick()
        await until(lambda: len(broker.payloads(UP)) == 2)
        assert [len(json.loads(p)) for p in broker.payloads(UP)] == [4, 4]
        put(q, 1)
        up.kick()
        await asyncio.sleep(10)
        assert len(broker.payloads(UP)) == 2
        await until(lambda: len(broker.payloads(UP)) == 3, 60000)  # batch_wait_s
        assert seqs(broker) == list(range(1, 10))
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_config_change_down_under_the_one_config_rule():
    vt = VirtualTime()
    broker = Broker()
    q = queue()
    term, up = make(broker, q, vt)

    def ks():
        return [json.loads(p[2:]) for p in broker.payloads(REPLY) if p.startswith(b"K ")]

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: up.mq is not None and up.mq.connected)
        good = '{"interval_s": 30, "status_every": 0}'  # status_every 0: out of range, falls back
        broker.send_down(CID, DOWN, proto.encode_command("config", good).encode())
        await until(lambda: len(ks()) == 1)
        assert ks()[0] == {"cmd": "config", "ok": True, "fallbacks": 1, "next_boot": True}
        with open(term.cfg_path) as f:
            assert json.load(f) == {"interval_s": 30, "status_every": 0}
        assert term.cfg["interval_s"] == 30
        assert ("config_changed", {"fallbacks": 1}) in term.events
        assert "config_fallback" in term.names()
        # a config that fails as a whole: refused, the file (the last good config) untouched
        broker.send_down(CID, DOWN, proto.encode_command("config", '{"modem": 5}').encode())
        await until(lambda: len(ks()) == 2)
        assert ks()[1]["ok"] is False and ks()[1]["err"].startswith("refused")
        with open(term.cfg_path) as f:
            assert json.load(f)["interval_s"] == 30
        assert "config_refused" in term.names()
        up.stop = True
        broker.drop()
        await task

    vt.run(main())



def test_connect_code_is_not_kept_between_connections():
    # docs/memory.md "The uplink": CONNECT/SUBSCRIBE and the end-of-connection handling
    # (uplink/connect.py) are loaded per connection and dropped; the steady loop delivers
    # without them, and a lost connection loads them again to reconnect
    import sys

    import mobiot_fw.uplink as pkg

    vt = VirtualTime()
    broker = Broker()
    q = queue()
    term, up = make(broker, q, vt)

    def resident():
        return "mobiot_fw.uplink.connect" in sys.modules or hasattr(pkg, "connect")

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: up.mq is not None and up.mq.connected)
        assert not resident()
        put(q, 3)
        up.kick()
        await until(lambda: len(seqs(broker)) == 3)
        assert not resident()
        broker.drop()  # an outage: the session ends, connect.ended() says so, then reconnects
        await until(lambda: len(broker.connects) == 2 and up.mq is not None and up.mq.connected)
        assert "uplink_down" in term.names() and not resident()
        up.stop = True
        broker.drop()
        await task

    vt.run(main())


def test_a_puback_read_before_publish_returns_is_counted():
    # Over a fast link (uplink/net.py over WLAN or PPP) the PUBACK can be read while publish()
    # still waits on the stream's drain: the window must count the message before that await,
    # or the count never comes down and the uplink stops once `window` such counts are lost.
    import fastbroker

    vt = VirtualTime()
    broker = fastbroker.Broker()
    q = queue()
    term = Term(q)
    up = Uplink(q, ucfg(window=2, encoding="compact"), DEV, broker.stream, term.dispatch, term.event,
                hello=(DEV, "0.1.0", "sim", 1), clock=vt.ticks_ms)
    term.up = up

    async def main():
        task = asyncio.create_task(up.run())
        await until(lambda: up.mq is not None and up.mq.connected)
        for n in range(1, 21):
            put(q, 1)
            up.kick()
            await until(lambda: up.published >= n and up.inflight == 0, 60000)
        assert up.published == 20 and up.inflight == 0
        # the replies' window too: a hello is answered on the reply topic
        broker.send_down(CID, DOWN, proto.encode_command("hello").encode())
        await until(lambda: broker.published > 20 and up.inflight == 0, 60000)
        up.shutdown()
        await task

    vt.run(main())
