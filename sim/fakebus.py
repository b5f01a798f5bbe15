# Datasheet-faithful fake buses and devices for the virtual board and firmware tests.
# Never deployed: runs on the MicroPython unix port only.
#
# Error behaviour matches the ESP32 port, so driver error paths are the board's:
#   ports/esp32/machine_i2c.c, machine_hw_i2c_transfer(): an ESP-IDF ESP_FAIL (address or
#   data byte NACKed) returns -MP_ENODEV, ESP_ERR_TIMEOUT returns -MP_ETIMEDOUT; the common
#   extmod/machine_i2c.c then raises OSError(-ret). So a missing device is OSError(19,
#   ENODEV) on the ESP32 (and the widely reported "OSError: [Errno 19] ENODEV" on a wrong
#   address, e.g. micropython/micropython#5663). A fake device that is absent (present=False)
#   raises exactly that; a device given `error=errno.ETIMEDOUT` raises that on every transfer.
#
# Devices are register maps (a bytearray of 256) with hooks: on_write(reg, value) after a byte
# is stored, before_read(reg) before a burst read. Transfers copy byte by byte into the
# caller's buffer and allocate nothing, so drivers' heap_lock() tests see only their own
# allocations.
import errno
from fakeuart import FakeUart
import time

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# ---------------------------------------------------------------------------------------
# I2C
# ---------------------------------------------------------------------------------------
class FakeI2CDevice:
    """A register-map device: a write sets the register pointer from its first byte and
    stores the rest with auto-increment; a read returns bytes from the pointer on."""

    def __init__(self, clock=None):
        # clock: a ticks_ms function, so tests and the virtual board can run virtual time.
        self.clock = clock or time.ticks_ms
        self.regs = bytearray(256)
        self.ptr = 0
        self.present = True
        self.error = None  # errno to raise on every transfer, e.g. errno.ETIMEDOUT

    # hooks
    def on_write(self, reg, value):
        pass

    def before_read(self, reg):
        pass

    # plain transfers
    def write(self, buf):
        if len(buf):
            self.ptr = buf[0]
            for i in range(1, len(buf)):
                self._store(buf[i])

    def read(self, buf):
        self.before_read(self.ptr)
        regs = self.regs
        for i in range(len(buf)):
            buf[i] = regs[self.ptr]
            self.ptr = (self.ptr + 1) & 0xFF

    def _store(self, value):
        self.regs[self.ptr] = value
        self.on_write(self.ptr, value)
        self.ptr = (self.ptr + 1) & 0xFF

    # register transfers (write pointer, repeated start, burst)
    def mem_write(self, reg, buf):
        self.ptr = reg & 0xFF
        for i in range(len(buf)):
            self._store(buf[i])

    def mem_read(self, reg, buf):
        self.ptr = reg & 0xFF
        self.read(buf)


class FakeI2C:
    """machine.I2C subset used by the drivers; devices by 7-bit address."""

    def __init__(self, devices=None):
        self.devices = dict(devices) if devices else {}
        self.transfers = 0

    def add(self, addr, dev):
        self.devices[addr] = dev
        return dev

    def _dev(self, addr):
        self.transfers += 1
        d = self.devices.get(addr)
        if d is None or not d.present:
            raise OSError(errno.ENODEV)  # address NACK, as the ESP32 port reports it
        if d.error:
            raise OSError(d.error)
        return d

    def scan(self):
        return sorted(a for a, d in self.devices.items() if d.present)

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(buf)
        return len(buf) + 1  # machine.I2C.writeto returns the number of ACKs

    def readfrom_into(self, addr, buf, stop=True):
        self._dev(addr).read(buf)

    def readfrom(self, addr, nbytes, stop=True):
        b = bytearray(nbytes)
        self._dev(addr).read(b)
        return bytes(b)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).mem_write(memaddr, buf)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).mem_read(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        b = bytearray(nbytes)
        self._dev(addr).mem_read(memaddr, b)
        return bytes(b)


# ---------------------------------------------------------------------------------------
# 1-Wire and DS18B20 (Maxim DS18B20 19-7487)
# ---------------------------------------------------------------------------------------
def dallas_crc8(data, crc=0):
    """Maxim 1-Wire CRC-8 (x^8+x^5+x^4+1, LSB first; application note 27). Over data that
    ends with its own CRC the result is 0. AN27 example: 02 1C B8 01 00 00 00 -> 0xA2."""
    for b in data:
        for _ in range(8):
            mix = (crc ^ b) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
    return crc


_OW_IDLE = const(0)
_OW_ROM = const(1)
_OW_MATCH = const(2)
_OW_FUNC = const(3)
_OW_READ_SP = const(4)
_OW_WRITE_SP = const(5)
_OW_READ_ROM = const(6)


class FakeOneWire:
    """onewire.OneWire API (micropython-lib onewire.py): reset(required=False) -> presence,
    readbit/readbyte/readinto, writebit/writebyte/write, select_rom, scan, crc8.
    Devices answer the ROM commands Skip (0xCC), Match (0x55), Read ROM (0x33) and the
    DS18B20 function commands 0x44, 0xBE, 0x4E. Several devices selected at once answer
    together: the bus is wired-AND, as on the real wire. The selection is a bit mask so that
    reset/write/read allocate nothing (drivers' heap_lock tests run through this fake)."""

    def __init__(self, devices=()):
        self.devices = list(devices)
        self._state = _OW_IDLE
        self._sel = 0
        self._i = 0
        self._match = bytearray(8)
        self.resets = 0

    def add(self, dev):
        self.devices.append(dev)
        return dev

    def _present_mask(self):
        m = 0
        for i in range(len(self.devices)):
            if self.devices[i].present:
                m |= 1 << i
        return m

    def reset(self, required=False):
        self.resets += 1
        self._state = _OW_ROM
        self._sel = 0
        present = self._present_mask() != 0
        if required and not present:
            raise OSError(errno.ENODEV)  # micropython-lib raises OneWireError here
        return present

    def writebyte(self, value):
        s = self._state
        if s == _OW_ROM:
            if value == 0xCC:
                self._sel = self._present_mask()
                self._state = _OW_FUNC
            elif value == 0x55:
                self._i = 0
                self._state = _OW_MATCH
            elif value == 0x33:
                self._sel = self._present_mask()
                self._i = 0
                self._state = _OW_READ_ROM
            else:
                self._state = _OW_IDLE
        elif s == _OW_MATCH:
            self._match[self._i] = value
            self._i += 1
            if self._i == 8:
                m = 0
                for i in range(len(self.devices)):
                    d = self.devices[i]
                    if d.present and d.rom == self._match:
                        m |= 1 << i
                self._sel = m
                self._state = _OW_FUNC
        elif s == _OW_FUNC:
            if value == 0x44:
                for i in range(len(self.devices)):
                    if self._sel >> i & 1:
                        self.devices[i].convert()
                self._state = _OW_IDLE
            elif value == 0xBE:
                self._i = 0
                self._state = _OW_READ_SP
            elif value == 0x4E:
                self._i = 0
                self._state = _OW_WRITE_SP
            else:
                self._state = _OW_IDLE
        elif s == _OW_WRITE_SP:
            for i in range(len(self.devices)):
                if self._sel >> i & 1:
                    self.devices[i].write_scratch(self._i, value)
            self._i += 1
            if self._i == 3:
                self._state = _OW_IDLE

    def write(self, buf):
        for b in buf:
            self.writebyte(b)

    def readbyte(self):
        v = 0xFF  # nobody pulls the line low: ones
        st = self._state
        if st == _OW_READ_SP or st == _OW_READ_ROM:
            for i in range(len(self.devices)):
                if self._sel >> i & 1:
                    d = self.devices[i]
                    if st == _OW_READ_SP:
                        v &= d.scratch_byte(self._i)
                    elif self._i < 8:
                        v &= d.rom[self._i]
            self._i += 1
        return v

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = self.readbyte()

    def readbit(self):
        return self.readbyte() & 1  # coarse, enough for "conversion done" polling

    def writebit(self, value):
        pass

    def select_rom(self, rom):
        self.reset()
        self.writebyte(0x55)
        self.write(rom)

    def scan(self):
        return [bytearray(d.rom) for d in self.devices if d.present]

    def crc8(self, data):
        return dallas_crc8(data)


# ---------------------------------------------------------------------------------------
# ADC and UART
# ---------------------------------------------------------------------------------------
class FakeADC:
    """machine.ADC subset: read_uv() (calibrated microvolts at the pin, ESP32 port).
    Value from the attribute uv or env() -> uV."""

    def __init__(self, uv=2000000, env=None):
        self.uv = uv
        self.env = env
        self.reads = 0

    def read_uv(self):
        self.reads += 1
        return int(self.env()) if self.env else self.uv

    def read_u16(self):
        # ESP32 port at ATTN_11DB scales 0..~3.1 V (raw full scale) to 0..65535; rough.
        return min(65535, self.read_uv() * 65535 // 3100000)


class FakeUART(FakeUart):
    """A machine.UART whose far end is a test or a simulator: inject(data) is the far end
    sending; what the firmware writes collects in tx. The one UART fake (sim/fakeuart.py:
    bounded receive buffer like the ESP32 driver's, pollable by asyncio), without a peer."""

    def __init__(self, rxbuf=512):
        super().__init__(rxbuf)
        self.tx = bytearray()

    def write(self, buf):
        self.tx.extend(buf)
        return super().write(buf)

    def inject(self, data):
        self._feed(data)

    @property
    def overruns(self):
        return self.overflows


# Device models live in their own modules so that a test importing one bus and one device
# compiles little (the unix port's -X heapsize=96k cannot compile everything at once);
# `from fakebus import FakeBme280` still works through this module __getattr__.
_LAZY = {
    "FakeBme280": "fake_bme280",
    "BME280_DEFAULT_CALIB": "fake_bme280",
    "Bme280Float": "fake_bme280",
    "FakeSht4x": "fake_sht4x",
    "sensirion_crc8": "fake_sht4x",
    "FakeDs18b20": "fake_ds18b20",
    "ds18b20_rom": "fake_ds18b20",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(name)
    return getattr(__import__(mod), name)
