# Fake Sensirion SHT4x (command protocol per "Datasheet SHT4x"). Sim only; see fakebus.py.
import errno
import time

from fakebus import FakeI2CDevice


def sensirion_crc8(data):
    """CRC-8 poly 0x31 init 0xFF (SHT4x datasheet 4.4); CRC(0xBEEF) = 0x92."""
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class FakeSht4x(FakeI2CDevice):
    """Command device (table 7): 0xFD/0xF6/0xE0 measure at high/medium/low precision, 0x89
    serial number, 0x94 soft reset. A read before the measurement is done (8.3 / 4.5 / 1.7 ms
    max) or without a pending result is NACKed (ENODEV), as the real part does. The answer
    is [T msb, T lsb, CRC, RH msb, RH lsb, CRC] with S_T = (T + 45) * 65535 / 175 and
    S_RH = (RH + 6) * 65535 / 125 (4.6). corrupt_crc flips the temperature word's CRC."""

    # Maximum durations (table 4) rounded up to the ms clock: 8.3 / 4.5 / 1.7 ms.
    _MEAS_MS = {0xFD: 9, 0xF6: 5, 0xE0: 2}

    def __init__(self, temp=20.0, hum=50.0, env=None, serial=0x0F3A5C21, corrupt_crc=False, clock=None):
        super().__init__(clock)
        self.temp, self.hum, self.env = temp, hum, env
        self.serial = serial
        self.corrupt_crc = corrupt_crc
        self.out = bytearray(6)
        self._ready_ms = None
        self._has = False
        self.measurements = 0

    @staticmethod
    def ticks_for(temp, hum):
        st = int((temp + 45.0) * 65535.0 / 175.0 + 0.5)
        srh = int((hum + 6.0) * 65535.0 / 125.0 + 0.5)
        return max(0, min(65535, st)), max(0, min(65535, srh))

    def _answer(self, w0, w1):
        o = self.out
        o[0], o[1] = w0 >> 8, w0 & 0xFF
        o[2] = sensirion_crc8(o[0:2])
        o[3], o[4] = w1 >> 8, w1 & 0xFF
        o[5] = sensirion_crc8(o[3:5])
        if self.corrupt_crc:
            o[2] ^= 0x01
        self._has = True

    def write(self, buf):
        if not len(buf):
            return
        cmd = buf[0]
        now = self.clock()
        if cmd in self._MEAS_MS:
            t, h = self.env() if self.env else (self.temp, self.hum)
            self._answer(*self.ticks_for(t, h))
            self._ready_ms = time.ticks_add(now, self._MEAS_MS[cmd])
            self.measurements += 1
        elif cmd == 0x89:
            self._answer(self.serial >> 16, self.serial & 0xFFFF)
            self._ready_ms = now
        elif cmd == 0x94:
            self._has = False
        else:
            raise OSError(errno.ENODEV)  # unknown command byte NACKed: ESP_FAIL -> ENODEV

    def read(self, buf):
        if not self._has or time.ticks_diff(self.clock(), self._ready_ms) < 0:
            raise OSError(errno.ENODEV)  # read header NACKed while busy / nothing to send
        o = self.out
        for i in range(len(buf)):
            buf[i] = o[i] if i < 6 else 0xFF
        self._has = False  # one answer per command

    def finish(self):
        self._ready_ms = self.clock()

    # No register interface: the "register address" byte is an unknown command, NACKed.
    def mem_write(self, reg, buf):
        raise OSError(errno.ENODEV)

    def mem_read(self, reg, buf):
        raise OSError(errno.ENODEV)
