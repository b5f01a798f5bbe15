# The one table of record names, kinds, units, decimals and LwM2M paths (events, which the board
# never looks up, are records_api.EVENTS). Contract: docs/records.md (tests/host/
# test_records_table.py checks that its tables equal FIELDS and EVENTS). Runs on MicroPython
# (board) and CPython (the host imports it as mobiot_fw.records): no machine, no typing, no
# const().
#
# Heap: the board only needs decimals(name) (proto.py, for floats). A tuple per row cost ~21 KB
# of heap on the unix port (six objects a row), so the table is one str, which decimals() scans
# in place without allocating. Everything else (FIELDS and EVENTS as tuples, unit_of,
# check_values, ...) lives in records_api.py, which parses this text; this module hands those
# names out through a module __getattr__ (PEP 562; MicroPython >= 1.21), so a host or a test
# that asks gets them and the board, which never asks, never loads them.
#
# Units are SenML unit symbols from the IANA "SenML Units" registry (RFC 8428 §12.1, extended by
# RFC 8798 §2: "B"; "dBm" is a registered secondary unit, RFC 8798 §3, dBW with offset -30).
# LwM2M paths are OMA LwM2M registry objects: 3 Device, 4 Connectivity Monitoring, 6 Location,
# 7 Connectivity Statistics, IPSO 3303 Temperature / 3304 Humidity / 3315 Barometer with resource
# 5700 Sensor Value. Where the LwM2M resource has another scale (3/0/7 is mV, 3/0/10 is KB,
# 7/0/2-3 are kB) the note column of docs/records.md says so; the value in our record keeps the
# SenML unit given here.

# TABLE (records_api.py parses it too): fields, under a line naming their kind:
# "name unit type [dec] [lwm2m]", unit "-" for none.
# Types: "num" (JSON number, rounded to dec decimals at the record; dec is one digit and only num
# rows have it), "int" (JSON integer), "str" (JSON string), "bool" (JSON true/false).
TABLE = """\
reading
temp Cel num 2 3303/0/5700
hum %RH num 1 3304/0/5700
press Pa num 0 3315/0/5700
bat V num 3 3/0/7
lat lat num 6 6/0/0
lon lon num 6 6/0/1
alt m num 1 6/0/2
spd m/s num 2 6/0/6
hdop / num 1
sats count int
fix - int
status
heap B int 3/0/10
heap_min B int
uptime s int
qdepth count int
qdrops count int
qerr count int
fw - str 3/0/3
connectivity
rat - str 4/0/0
rssi dBm int 4/0/2
ber - int
rsrp dBm num 1
rsrq dB num 1 4/0/3
sinr dB num 1 4/0/11
sinr_raw - int
band - int
earfcn - int
pci - int
cell - int 4/0/8
tac - int 4/0/12
lac - int 4/0/12
mcc - int 4/0/10
mnc - str 4/0/9
oper - str
reg - str
ip - str 4/0/4
apn - str 4/0/7
psm - bool
t3412_s s int
t3324_s s int
edrx - bool
edrx_s s num 2
ptw_s s num 2
ce_level - int
imei - str 3/0/2
iccid - str
imsi - str
modem_fw - str
model - str
attach_s s num 1
tx_bytes B int 7/0/2
rx_bytes B int 7/0/3
"""


def decimals(name):
    """Decimals a float value of this name is rounded to at the record: those of its row, else
    of the row of the longest name that follows an underscore in it (a prefixed sensor instance,
    docs/records.md: "sht_temp" is temp, "x_heap_min" is heap_min, not "min"); 4 for a name the
    table does not know or that is not a num (records_api.DEFAULT_DEC).

    Compares characters in place, no slices: allocates nothing (proto calls it for every float).
    """
    n = len(name)
    best = -1  # offset of the best row so far
    blen = 0  # length of its name
    p = 0
    while p < len(TABLE):
        e = TABLE.find("\n", p)
        k = TABLE.find(" ", p, e) - p  # length of the row name; < 0 on a kind line
        if blen < k <= n and (k == n or name[n - k - 1] == "_"):
            j = k - 1
            while j >= 0 and TABLE[p + j] == name[n - k + j]:
                j -= 1
            if j < 0:
                best = p
                blen = k
        p = e + 1
    if best >= 0:
        p = TABLE.find(" ", best + blen + 1) + 1  # the type column
        if TABLE.startswith("num ", p):
            return ord(TABLE[p + 4]) - 48
    return 4


def __getattr__(attr):
    # PEP 562: FIELDS, EVENTS, unit_of, check_values, ... come from records_api
    from mobiot_fw import records_api

    return getattr(records_api, attr)
