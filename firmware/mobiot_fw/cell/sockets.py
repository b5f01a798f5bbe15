# The modem's own TCP/TLS socket transport for each model (docs/uplink.md "Transports"): one row
# per model, "<model> <module in cell/vendor> <class>", so a new model is a row (the model names
# are cell/models.py's). Only the chosen module is imported.
_T = """
SIM7080G sock_simcom SimcomCA
SIM7000G sock_sim7000 SimcomAuto
A7670 sock_a76xx A76xxSock
A7680C sock_a76xx A76xxSock
BG95 sock_quectel QuectelSock
BG96 sock_quectel QuectelSock
EC200U sock_quectel QuectelSock
"""


def row(model):
    """(module, class) of the model's socket dialect, or None when it has none."""
    i = _T.find("\n%s " % model)
    if i < 0:
        return None
    f = _T[i + 1 : _T.find("\n", i + 1)].split()
    return f[1], f[2]


def stream(at, model, apn=""):
    """A fresh transport (open, write, read_into, close) over the AT engine `at` for `model`, or
    None when the model has no socket dialect. One per modem lifetime: it chains at's URC handler."""
    r = row(model)
    if r is None:
        return None
    mod = __import__("mobiot_fw.cell.vendor." + r[0], None, None, (r[1],))
    cls = getattr(mod, r[1])
    if r[1] == "SimcomAuto":
        return cls(at, apn)  # the CIP stack needs the APN for AT+CSTT
    return cls(at)
