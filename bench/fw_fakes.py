# The bench's fakes (bench/fw_bench.py, bench/fw_uplink.py): static register maps for the
# sensors' bus, a fixed ADC, the platform object the Terminal gets and a counting null output.
# A module of their own, compiled to .mpy as the firmware is: the uplink bench imports only
# these, not the firmware bench's own script (never deployed; the heap benches count it).


def _crc8(a, b):
    # Sensirion CRC-8 (poly 0x31, init 0xFF), SHT4x datasheet section 4.5
    c = 0xFF
    for x in (a, b):
        c ^= x
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


class StaticI2C:
    """A BME280 at 0x76 (the datasheet's calibration example, section 8.1 / BMP280 3.12) and an
    SHT4x at 0x44, answering fixed conversions."""

    def __init__(self):
        r = bytearray(256)
        r[0xD0] = 0x60
        calib = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
        for i, v in enumerate(calib):
            r[0x88 + 2 * i] = v & 0xFF
            r[0x89 + 2 * i] = (v >> 8) & 0xFF
        r[0xA1] = 75  # H1
        r[0xE1], r[0xE2] = 0x6A, 0x01  # H2 = 362
        r[0xE3] = 0  # H3
        r[0xE4], r[0xE5], r[0xE6] = 0x13, 0x2E, 0x03  # H4 = 318, H5 = 50
        r[0xE7] = 30  # H6
        p, t, h = 415148, 519888, 30000  # raw ADC values of the datasheet example
        r[0xF7:0xFF] = bytes((p >> 12, (p >> 4) & 0xFF, (p & 15) << 4, t >> 12, (t >> 4) & 0xFF, (t & 15) << 4,
                              h >> 8, h & 0xFF))
        self.bme = r
        st, srh = 0x6666, 0x8000
        self.sht = bytes((st >> 8, st & 0xFF, _crc8(st >> 8, st & 0xFF), srh >> 8, srh & 0xFF,
                          _crc8(srh >> 8, srh & 0xFF)))

    def readfrom_mem_into(self, addr, reg, buf):
        if addr != 0x76:
            raise OSError(19)
        buf[:] = self.bme[reg:reg + len(buf)]

    def writeto_mem(self, addr, reg, data):
        if addr != 0x76:
            raise OSError(19)

    def writeto(self, addr, data):
        if addr != 0x44:
            raise OSError(19)

    def readfrom_into(self, addr, buf):
        if addr != 0x44:
            raise OSError(19)
        buf[:] = self.sht


class StaticADC:
    def read_uv(self):
        return 1900000


class Plat:
    """The platform the Terminal gets: the static bus and ADC above (bench/fw_uplink.py too)."""

    def i2c(self):
        return self.bus

    def battery_adc(self):
        return self.adc

    def unique_id(self):
        return "bench"


class Null:
    """The serial link's output: counted, thrown away."""

    n = 0

    def write(self, b):
        self.n += len(b)
