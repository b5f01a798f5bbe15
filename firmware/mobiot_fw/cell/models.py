# The modem models the driver (mobiot_fw.cell.modem) knows: one text block per model, so adding a
# model is adding a block. A board has one modem: Modem() imports this module, keeps only its
# model's lines (row()) and drops the module again, so the other models never stay in RAM (as
# dicts of tuples the five models cost ~5 KB of heap on the 64-bit unix port).
#
# Block: a line "=<MODEL> [<alias> ...]" then "<key> <value>" lines; a key may repeat where it is a list
# (its lines in order). Power-key times are the module pin's (PWRKEY pulled low); a board with an
# NPN inverter presses the key with a high GPIO (pwrkey_active=1, the default).
#   on_ms / off_ms   pulse widths used (>= the hardware design's minimum, with margin)
#   boot_ms          longest wait for the first AT answer after the on pulse
#   off_wait_ms      power-off pulse -> UART dead
#   down_urc         the URC of a normal power-down
#   rat <RAT>        commands that select that RAT, "|"-separated
#   apn              a command that sets the APN ("{apn}" is replaced)
#   act              "<command>[|<expect>]" bringing the data bearer up after attach (AT.cmd
#                    expect: a line that completes the command after its OK)
#   signal           a vendor command read by report()
#   ip               the command that reports the IP address
#   ccid             the ICCID command
#   cereg            AT+CEREG=<n> mode: 4 reports PSM timers (TS 27.007 §10.1.22)
#   ptw              vendor paging-time-window command ({act}, {ptw}, {edrx} replaced), if any
#   rdp              eDRX read command (TS 27.007 §7.41: eDRX the network granted), if any
#   nitz             the command that lets the modem set its clock from the network's NITZ
#   sleep            the command that lets the modem sleep while DTR is high (Modem.sleep)
#   gnss_on          a command that powers the modem's GNSS on (in order; none: no GNSS)
#   gnss_off         a command that powers it off
#   gnss_read        the fix query (cell/gnss.py PARSERS has its parser)
#   gnss_exclusive   1: GNSS and LTE share the RF path, the radio goes off for a fix
#   ppp              the dial command of PPP dial-up over the AT UART ({cid} replaced): the
#                    model supports uplink.transport "ppp" (uplink/net.py PppLink); none: it
#                    does not
#   like             a model whose lines follow (a key's first line wins)
#
# Sources:
# SIM7080G: SIM7080 Series Hardware Design V1.04 §3.4 (power on/off): Ton >= 1 s,
#   Toff >= 1.2 s. SIM7080 Series AT Command Manual: AT+CNMP=38 LTE only; AT+CMNB=1 CAT-M,
#   2 NB-IoT; AT+CNCFG=<pdpidx>,<ip_type>,<APN> configures the app PDP; AT+CNACT=0,1 activates
#   it, "+APP PDP: 0,ACTIVE" follows the OK.
# SIM7000G: SIM7000 Hardware Design V1.04 §3.4: Ton >= 1 s; Table 9: Toff >= 1.2 s,
#   Toff(uart) 1.8-6.9 s. SIM7000 Series AT Command Manual: AT+CNMP/AT+CMNB as SIM7080;
#   AT+CNACT=<mode>,<APN> opens the app network, +APP PDP: ACTIVE follows.
# A7670: A7670 Series Hardware Design: PWRKEY Ton >= 50 ms, Toff >= 2.5 s. A76xx AT Command
#   Manual: AT+CNMP=38 LTE only, 2 automatic (GSM fallback on A7670E); Cat-1: no PSM timers to
#   report (AT+CEREG=2).
# BG95: BG95 Series Hardware Design §3.6.1: PWRKEY low 500-1000 ms turns on; §3.6.2.1:
#   650-1500 ms turns off, >= 1.3 s power-down procedure. BG95 AT Commands Manual AT+QCFG:
#   "iotopmode" 0 eMTC, 1 NB-IoT; "nwscanseq" 02 = eMTC first, 03 = NB-IoT first, 01 = GSM.
#   TCP/IP AT manual: AT+QICSGP=<contextID>,<context_type 1=IPv4>,<APN>; AT+QIACT=1.
# NITZ: SIMCom AT+CLTS=1 (SIM7080 Series AT Command Manual, SIM7000 Series AT Command Manual and
#   A76XX Series AT Command Manual, "AT+CLTS Get Local Timestamp"); Quectel AT+CTZU=1 (BG95 AT
#   Commands Manual, "AT+CTZU Automatic Time Zone Update").
# Sleep: SIMCom AT+CSCLK=1 (SIM7080 / SIM7000 / A76XX AT Command Manuals, "AT+CSCLK Configure
#   Slow Clock"; the Hardware Designs' "Sleep mode": with DTR high and no activity the module
#   sleeps, DTR low wakes the UART, usable ~50 ms later). Quectel AT+QSCLK=1 (BG95 AT Commands
#   Manual "AT+QSCLK"; BG95 Hardware Design "Sleep mode": MAIN_DTR high allows sleep, low wakes).
# GNSS: SIM7000/SIM7080 AT Command Manuals: AT+CGNSPWR=<0|1>, AT+CGNSINF; A76XX: AT+CGNSSPWR=<0|1>
#   (answers OK, then +CGNSSPWR: READY!), AT+CGNSSINFO; BG95 GNSS Application Note: AT+QGPS=1,
#   AT+QGPSEND, AT+QGPSLOC=2. SIM7080G exclusive: LilyGO T-SIM7080G README, Tips 1 (GNSS and
#   LTE share the RF path).
# PPP dial-up (the ppp key): ATD*99***<cid># is TS 27.007 §10.2.1.1 "Request packet domain
#   service 'D'" (CONNECT, then PPP on the UART; NO CARRIER when PPP ends; "+++" with 1 s of
#   silence before and after returns to command mode, V.250 escape with the S12 guard time).
#   Found per model with the search tool (the vendors' own PPP notes for SIMCom were not found):
#   SIM7080G: Zephyr drivers/modem/modem_cellular.c simcom_sim7080_dial_chat_script (ATD*99***1#).
#   SIM7000G: botletics/SIM7000-LTE-Shield issue 49: ATD*99***1# -> CONNECT 150000000 and PPP
#   over the UART on B03 firmware, ERROR on B05 (firmware-dependent: that ERROR is an
#   uplink_error, never a hang). A7670 / A7680C: Waveshare wiki "SIM7600X&&A7600X PPP Dial-up
#   Networking" (pppd dialling *99# over the A7600X's UART). BG95 / BG96: Quectel BG96 PPP
#   Application Note V1.0 (BG95&BG96 compatible design) and Zephyr modem_cellular.c
#   quectel_bg95_dial_chat_script (ATD*99***1#). EC200U: Quectel EC200x&EC600S&EG912Y Series PPP
#   Application Note §3.2 (ATD*99# -> CONNECT; NO CARRIER when PPP ends) and §4.1.1 ("+++" with
#   >= 1 s of silence before and after -> command mode; DTR high with AT&D1 -> command mode, OK).
# BG96: as BG95 (BG95&BG96 Compatible Design), power-off pulse 800 ms (§4.3.2: >= 650 ms).
# A7680C (LTE Cat 1, SIMCom A76XX platform): A76XX Series AT Command Manual V1.11 (2023-12-07),
#   the same commands as A7670 (AT+CNMP, AT+CPSI?, AT+CICCID, AT+CGPADDR, AT+CGACT), so the row is
#   A7670's. Its own hardware design was not found with the search tool: the A7670 Series
#   Hardware Design times (Ton >= 50 ms, Toff >= 2.5 s) are used until a board confirms them.
# EC200U (LTE Cat 1 bis, Quectel LTE Standard dialect): EC200U command list (Quectel EC200U AT
#   Commands Manual, as listed by CSDN "EC200U AT指令": AT+QCFG="nwscanmode", AT+QNWINFO,
#   AT+QCCID); EC200U&EG915U Series TCP/IP Application Note V1.1 (2021-08-17):
#   AT+QICSGP=<contextID>,<context_type>,<APN>, AT+QIACT=<contextID>; AT+QENG="servingcell" LTE
#   layout of the EC25&EC21 AT Commands Manual V1.3 (field lines of EC200T/EC200A confirm it).
#   nwscanmode 0 automatic, 1 GSM only, 3 LTE only (EC25&EC21 manual, AT+QCFG="nwscanmode").
#   Power key: the EC200U Hardware Design was not found; PWRKEY low >= 500 ms on and >= 650 ms
#   off is the Quectel LTE Standard convention (EC25 Hardware Design); 600 ms / 3 s are used
#   (600 < 650: a press while the module boots must not read as a power-off; docs/modem.md
#   lists these as unverified). Cat 1: no PSM timers to report (AT+CEREG=2).
#   nitz (the network-time key the main loop reads from each row): AT+CTZU=1, "automatic time
#   zone update" in the EC200U command list.
_T = """
=SIM7080G SIM7080
on_ms 1100
off_ms 1500
boot_ms 15000
off_wait_ms 4000
down_urc NORMAL POWER DOWN
rat LTE-M AT+CNMP=38|AT+CMNB=1
rat NB-IoT AT+CNMP=38|AT+CMNB=2
rat GSM AT+CNMP=13
apn AT+CGDCONT=1,"IP","{apn}"
apn AT+CNCFG=0,1,"{apn}"
act AT+CNACT=0,1|+APP PDP:
signal AT+CPSI?
ip AT+CNACT?
ccid AT+CCID
ppp ATD*99***{cid}#
cereg 4
ptw AT+CPTWEDRXS=2,{act},"{ptw}","{edrx}"
nitz AT+CLTS=1
sleep AT+CSCLK=1
rdp AT+CEDRXRDP
gnss_on AT+CGNSPWR=1
gnss_off AT+CGNSPWR=0
gnss_read AT+CGNSINF
gnss_exclusive 1
=SIM7000G SIM7000
on_ms 1100
off_ms 1500
boot_ms 15000
off_wait_ms 7000
down_urc NORMAL POWER DOWN
rat LTE-M AT+CNMP=38|AT+CMNB=1
rat NB-IoT AT+CNMP=38|AT+CMNB=2
rat GSM AT+CNMP=13
apn AT+CGDCONT=1,"IP","{apn}"
act AT+CNACT=1,"{apn}"|+APP PDP:
signal AT+CPSI?
ip AT+CNACT?
ccid AT+CCID
ppp ATD*99***{cid}#
cereg 4
nitz AT+CLTS=1
sleep AT+CSCLK=1
rdp AT+CEDRXRDP
gnss_on AT+CGNSPWR=1
gnss_off AT+CGNSPWR=0
gnss_read AT+CGNSINF
=A7670 A7670E A7670G A7670SA
on_ms 200
off_ms 3000
boot_ms 20000
off_wait_ms 6000
down_urc NORMAL POWER DOWN
rat LTE AT+CNMP=38
rat GSM AT+CNMP=13
rat auto AT+CNMP=2
apn AT+CGDCONT=1,"IP","{apn}"
act AT+CGACT=1,1
signal AT+CPSI?
ip AT+CGPADDR=1
ccid AT+CICCID
ppp ATD*99***{cid}#
cereg 2
nitz AT+CLTS=1
sleep AT+CSCLK=1
gnss_on AT+CGNSSPWR=1
gnss_off AT+CGNSSPWR=0
gnss_read AT+CGNSSINFO
=BG95 BG95-M3
on_ms 600
off_ms 900
boot_ms 15000
off_wait_ms 4000
down_urc POWERED DOWN
rat LTE-M AT+QCFG="nwscanseq",020301|AT+QCFG="iotopmode",0,1
rat NB-IoT AT+QCFG="nwscanseq",030201|AT+QCFG="iotopmode",1,1
rat GSM AT+QCFG="nwscanseq",010203|AT+QCFG="nwscanmode",1,1
apn AT+CGDCONT=1,"IP","{apn}"
apn AT+QICSGP=1,1,"{apn}"
act AT+QIACT=1
signal AT+QENG="servingcell"
signal AT+QCSQ
ip AT+CGPADDR=1
ccid AT+QCCID
ppp ATD*99***{cid}#
cereg 4
ptw AT+QPTWEDRXS=2,{act},"{ptw}","{edrx}"
nitz AT+CTZU=1
sleep AT+QSCLK=1
rdp AT+CEDRXRDP
gnss_on AT+QGPS=1
gnss_off AT+QGPSEND
gnss_read AT+QGPSLOC=2
=BG96
off_ms 800
like BG95
=A7680C
like A7670
=EC200U EC200U-CN EC200U-EU
on_ms 600
off_ms 3000
boot_ms 15000
off_wait_ms 6000
down_urc POWERED DOWN
rat LTE AT+QCFG="nwscanmode",3,1
rat GSM AT+QCFG="nwscanmode",1,1
rat auto AT+QCFG="nwscanmode",0,1
apn AT+CGDCONT=1,"IP","{apn}"
apn AT+QICSGP=1,1,"{apn}"
act AT+QIACT=1
signal AT+QENG="servingcell"
ip AT+CGPADDR=1
ccid AT+QCCID
ppp ATD*99***{cid}#
cereg 2
nitz AT+CTZU=1
"""


def _block(name):
    # (model name, its "<key> <value>" lines between newlines) for a model name or alias
    p = _T.find("\n=")
    while p >= 0:
        e = _T.find("\n", p + 1)
        words = _T[p + 2 : e].split()
        p = _T.find("\n=", e)
        if name in words:
            return words[0], _T[e : p + 1 if p >= 0 else len(_T)]
    return None, ""


def row(name):
    """(model name, lines) for a model name or alias; (None, "") for an unknown model. lines
    starts and ends with a newline, so a key is found as "\\n<key> "."""
    model, lines = _block(name)
    i = lines.find("\nlike ")
    if i >= 0:
        lines += _block(lines[i + 6 : lines.find("\n", i + 1)])[1][1:]
    return model, lines


def canonical(name):
    """The model name for a model name or alias (the one alias table: the "=" lines above), or
    None. The GNSS reader and the modem simulator ask here too."""
    return _block(name)[0] if name else None


def names():
    """Every model name (aliases not included)."""
    out = []
    p = _T.find("\n=")
    while p >= 0:
        e = _T.find("\n", p + 1)
        out.append(_T[p + 2 : e].split()[0])
        p = _T.find("\n=", e)
    return out


def table():
    """[(model name, [aliases])] for every row, in table order (the host's --model choices)."""
    out = []
    p = _T.find("\n=")
    while p >= 0:
        e = _T.find("\n", p + 1)
        words = _T[p + 2 : e].split()
        out.append((words[0], words[1:]))
        p = _T.find("\n=", e)
    return out
