# The report cycle (docs/config.md: interval_s, status_every): every interval_s, or at once
# when a host asks (!sample, !interval), a reading record, the connectivity record and every
# status_every cycles a status record; then the link's backlog.
import asyncio


class Cycle:
    def __init__(self, cfg, sensors, supervisor, modem=None, session=None, beat=None):
        self.cfg = cfg
        self.sensors = sensors
        self.sup = supervisor
        self.modem = modem  # cell/lifecycle.py ModemPart, or None
        self.session = session
        self.beat = beat
        self.count = 0
        self.wake = asyncio.Event()

    async def once(self, wait=True):
        await self.sensors.sample(wait)
        if self.modem is not None:
            self.modem.record()
        self.count += 1
        every = self.cfg["status_every"]
        if every == 1 or self.count % every == 1:
            self.sup.status()

    async def run(self):
        while True:
            if self.beat is not None:
                self.beat()
            await self.once()
            if self.session is not None:
                self.session.pump()
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self.cfg["interval_s"])
            except asyncio.TimeoutError:
                pass
