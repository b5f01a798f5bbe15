# A terminal's uplink end to end, for the host tests (never deployed): the flash queue (RAM
# littlefs), the modem simulator (real TCP/TLS sockets, sim/sim_sockets.py), the AT engine, the
# model's socket transport (cell/sockets.py) and the uplink session, with records made at a steady rate.
#   micropython sim/uplink_term_main.py JOBFILE
# JOBFILE: JSON {"model": "SIM7080G", "host": name, "hosts": {name: "127.0.0.1"}, "port": n,
#   "tls": bool, "ca": path or null, "install_ca": bool (the CA is in the board's secrets.json, not
#   yet in the modem), "cert"/"key": paths of a client certificate and key put beside it in
#   secrets.json (mutual TLS; with install_ca), "transport": "wlan" (network.WLAN, faked, instead of
#   the modem) or "ppp" (network.PPP, faked, over the simulator's data mode; "drop_after": n: the
#   network ends the call after n PUBACKs and refuses calls for "drop_for_s"), "hosts": names the
#   WLAN/PPP stream resolves to addresses (as the simulator's hosts map),
#   "records": n, "every_ms": n, "uplink": {...config...},
#   "modem": {...scenario modem part...}, "reset_after": n (power-cycle the modem when the
#   broker has had n messages' PUBACKs; 0 never), "outage_after": n (no service for
#   "outage_for_s" from the nth PUBACK on: an outage of a live connection however slow the
#   machine is), "run_s": n}
# Prints one line per event ("EV <json>") and, at the end, "DONE <json>" with the queue's state.
import sys

_root = (sys.argv[0].rpartition("/")[0] or ".") + "/.."
sys.path.insert(0, _root + "/firmware")
sys.path.insert(0, _root + "/sim")
import asyncio
import json
import time

import cutblockdev as cb
import fileblockdev as fb
from modem_sim import ModemSim
from mobiot_fw import config
from mobiot_fw.cell.at import At
from mobiot_fw.cell import models, sockets
from mobiot_fw.link import proto
from mobiot_fw.store.flashq import Queue
from mobiot_fw.uplink.session import Uplink

DEV = "868822040061234"


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    fb.mount(cb.CutBlockDev(256), "/e2e", mkfs=True)
    q = Queue("/e2e/q", max_records=5000, max_bytes=512 * 1024)
    m = {"model": job.get("model", "SIM7080G"), "reg_delay_s": 1, "hosts": job.get("hosts") or {}}
    ca_name = (job.get("uplink") or {}).get("ca", "ca.crt")
    if job.get("ca") and not job.get("install_ca"):
        m["files"] = {ca_name: job["ca"]}  # already in the modem's file system
    elif job.get("ca"):
        # in the board's secrets.json (tls.ca), as provisioning leaves it: the transport writes
        # it into the modem with the model's own commands before its TLS open (cell/certs.py)
        from mobiot_fw.cell import certs

        fb.mount(cb.CutBlockDev(32), "/sec", mkfs=True)
        certs.SECRETS = "/sec/secrets.json"
        tls = {}
        for k, path in (("ca", job["ca"]), ("cert", job.get("cert")), ("key", job.get("key"))):
            if path:  # "cert" / "key": the client certificate and key (mutual TLS)
                with open(path) as src:
                    tls[k] = src.read()
        with open(certs.SECRETS, "w") as dst:
            json.dump({"tls": tls}, dst)
    m.update(job.get("modem") or {})
    sim = ModemSim(m["model"], {"modem": m})
    u = {"enabled": True, "host": job["host"], "port": job["port"], "tls": job.get("tls", False),
         "backoff_s": 1, "backoff_max_s": 10, "keepalive_s": 30}
    u.update(job.get("uplink") or {})
    cfg, errs = config.validate({"uplink": u})
    assert not errs, errs
    buf = bytearray(proto.FRAME_MAX)
    state = {"published": 0, "resets": 0}

    def event(name, *pairs):
        d = dict(pairs)
        d["event"] = name
        print("EV " + json.dumps(d))

    def dispatch(line, link):
        try:
            verb, args = proto.parse_command(line)
        except ValueError as e:
            link.frame(buf, proto.encode_reply(buf, "?", False, str(e)))
            return
        if verb == "ack":
            try:
                q.ack_ranges(proto.iter_ack_ranges(args))
            except ValueError as e:
                link.frame(buf, proto.encode_reply(buf, "ack", False, str(e)))
        else:
            link.frame(buf, proto.encode_reply(buf, verb, False, "unknown command"))

    async def run():
        at = At(sim.uart()).start()
        hosts = job.get("hosts") or {}

        def resolve(host, port):
            # the job's names (as the modem simulator's hosts map), else the host's resolver
            if host in hosts:
                return hosts[host]
            import socket

            socket.getaddrinfo(host, port)
            return host

        part = None
        if job.get("transport") == "wlan":
            # network.WLAN (uplink/net.py) against sim/fake_network.py: the unix port has no
            # network module; the IP traffic uses the host's real sockets
            import fake_network
            from mobiot_fw.uplink.net import NetSock, WlanLink, secret

            nic = fake_network.WLAN(ssid="mobiot-test")
            nic.active(True)
            link = WlanLink(nic, "mobiot-test", "secret")
            st = NetSock("wlan", secret, resolve)
            ready = link.ready
        elif job.get("transport") == "ppp":
            # network.PPP (uplink/ppp.py) over the simulator's data mode (ATD*99***1#, PPP
            # frames on its UART) with sim/fake_network.py's PPP; IP over the host's sockets
            import fake_network
            from mobiot_fw.uplink.net import secret
            from mobiot_fw.uplink.ppp import PppLink, PppStream

            class Part:
                # the modem task's side of a data call (cell/lifecycle.py ModemPart.hold): this
                # harness's only AT traffic is lifecycle() below, which waits while held
                modem = None
                held = False

                async def hold(self):
                    self.held = True
                    return True

                def release(self):
                    self.held = False

            part = Part()
            part.modem = part
            part.at = at
            link = PppLink(part, fake_network.PPP, "ATD*99***1#")
            st = PppStream(link, secret, resolve)
            state["link"] = link

            def ready():
                return sim.state == "on" and sim._registered() and sim.pdp_active
        else:
            st = sockets.stream(at, sim.model, "internet")

            def ready():
                return sim.state == "on" and sim._registered() and sim.pdp_active

        # the model's bearer command (cell/models.py "act"), as the modem task sends it
        _, rows = models.row(sim.model)
        i = rows.find("\nact ")
        act, _, act_expect = rows[i + 5 : rows.find("\n", i + 1)].replace("{apn}", "internet").partition("|")
        up = Uplink(q, cfg["uplink"], DEV, lambda: st, dispatch, event, ready=ready)

        async def lifecycle():
            # the modem task's part that matters here: bring the bearer up whenever it is down
            while True:
                await asyncio.sleep_ms(500)
                if part is not None and part.held:
                    continue  # PPP owns the UART
                if sim.state == "on" and sim._registered() and not sim.pdp_active:
                    try:
                        await at.cmd(act, 10000, act_expect or None)
                    except OSError:
                        pass

        async def records():
            rb = bytearray(300)
            for _ in range(job.get("records", 20)):
                seq = q.next_seq()
                end = proto.encode_record(rb, 0, DEV, 1, seq, 1764146800 + seq, "utc", "reading",
                                          (("temp", 20 + seq % 50 / 10), ("bat", 3.9)))
                q.append(seq, memoryview(rb)[:end])
                up.kick()
                await asyncio.sleep_ms(job.get("every_ms", 100))

        async def after_pubacks(key, act):
            # a fault scripted by the job: act() once the broker has job[key] messages' PUBACKs
            # (a point in the connection's life, however slow the machine is); 0 never
            n = job.get(key, 0)
            if not n:
                return
            while up.published < n:
                await asyncio.sleep_ms(5)
            act()

        def ppp_drop():
            # the network ends the PPP call and refuses a new one for drop_for_s seconds (the
            # simulator's no_carrier event)
            sim.events.append({"do": "no_carrier", "at_s": sim.now_s(), "for_s": job.get("drop_for_s", 3)})
            import sim_ppp

            sim_ppp.hangup(sim)
            event("test_ppp_drop", ("after", up.published))

        def modem_reset():
            # mid-publish: the next message is on its way when the modem restarts
            sim._power_on(sim.now_s())
            state["resets"] += 1
            event("test_modem_reset", ("after", up.published))

        def outage():
            sim.events.append({"do": "no_service", "at_s": sim.now_s(), "for_s": job.get("outage_for_s", 10)})
            event("test_outage", ("after", up.published))

        tasks = [asyncio.create_task(t) for t in (up.run(), lifecycle(), records(),
                                                  after_pubacks("reset_after", modem_reset),
                                                  after_pubacks("drop_after", ppp_drop),
                                                  after_pubacks("outage_after", outage))]
        t0 = time.ticks_ms()
        run_ms = job.get("run_s", 60) * 1000
        want = job.get("records", 20)
        while time.ticks_diff(time.ticks_ms(), t0) < run_ms:
            await asyncio.sleep_ms(100)
            if job.get("until_empty", True) and q.next_seq() - 1 >= want and q.depth == 0:
                break
        up.shutdown()
        await asyncio.sleep_ms(300)
        for t in tasks:
            t.cancel()
        print("DONE " + json.dumps({"depth": q.depth, "made": q.next_seq() - 1, "published": up.published,
                                    "connects": up.connects, "opened": sim.sockets.opened if hasattr(sim, "sockets")
                                    else 0, "resets": state["resets"], "dials": getattr(sim, "ppp_dials", 0),
                                    "ppp_drops": state["link"].drops if "link" in state else 0}))

    asyncio.run(run())


main()
