# SPDX-License-Identifier: GPL-2.0
"""The primary node: the peer disk over iSCSI (open-iscsi) and the target.

The login uses a static node record (iscsiadm -m node -o new): no
SendTargets discovery, so the user's discovery records are never touched.
A CHAP secret is written into the node record file (mode 0600) rather than
given to 'iscsiadm -o update -v', whose argument list any user can read in
the process listing.
"""

import glob
import os
import re

from .util import Error, have_cmd, readval, run, run_rc, wait_for, warn

NODE_DIRS = ("/etc/iscsi/nodes", "/var/lib/iscsi/nodes")


def session(iqn):
    """/sys/class/iscsi_session/sessionN of target iqn, or None."""
    for s in sorted(glob.glob("/sys/class/iscsi_session/session*")):
        if readval(f"{s}/targetname") == iqn:
            return s
    return None


def disks(iqn):
    """The disks (/dev/sdX) of iqn's session, LUN order."""
    s = session(iqn)
    if s is None:
        return []
    host = os.path.basename(os.path.dirname(os.path.realpath(f"{s}/device")))
    out = []
    for b in sorted(glob.glob(f"/sys/bus/scsi/devices/{host[4:]}:*:*:*/block/*")):
        out.append("/dev/" + os.path.basename(b))
    return out


def start_iscsid(mod="iscsi_tcp"):
    run_rc(["modprobe", "-q", mod])
    if run_rc(["pgrep", "-x", "iscsid"])[0] == 0:
        return
    if have_cmd("systemctl") and run_rc(["systemctl", "start", "iscsid"])[0] == 0:
        return
    try:
        if os.path.getsize("/etc/iscsi/initiatorname.iscsi") == 0:
            raise OSError
    except OSError:
        raise Error("no /etc/iscsi/initiatorname.iscsi (install open-iscsi)") from None
    if run_rc(["iscsid"])[0] != 0:
        raise Error("cannot start iscsid")


def initiator_name():
    try:
        with open("/etc/iscsi/initiatorname.iscsi") as f:
            for line in f:
                if line.startswith("InitiatorName="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


def _node_update(iqn, portal, iface, key, value, check=True):
    rc, _, err = run_rc(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, *iface,
                         "-o", "update", "-n", key, "-v", value])
    if rc != 0 and check:
        raise Error(f"cannot set {key} in the node record of {iqn}: {err.strip()}")


def _node_files(iqn, portal):
    """The node record files of iqn at portal ('IP:PORT')."""
    ip, port = portal.rsplit(":", 1)
    ip = ip.strip("[]")
    out = []
    for d in NODE_DIRS:
        base = f"{d}/{glob.escape(iqn)}/{glob.escape(ip)},{port}"
        for p in glob.glob(base) + glob.glob(base + ",*"):
            if os.path.isdir(p):
                out += [f for f in glob.glob(f"{p}/*") if os.path.isfile(f)]
            elif os.path.isfile(p):
                out.append(p)
    return out


def _store_chap(iqn, portal, iface, user, secret):
    """CHAP settings into the node record: the secret by editing the record
    file (never on a command line); iscsiadm as a fallback, with a warning."""
    files = _node_files(iqn, portal)
    if not files:
        warn("node record file not found: passing the CHAP secret to iscsiadm "
             "on its command line (visible in the process listing meanwhile)")
        _node_update(iqn, portal, iface, "node.session.auth.authmethod", "CHAP")
        _node_update(iqn, portal, iface, "node.session.auth.username", user)
        _node_update(iqn, portal, iface, "node.session.auth.password", secret)
        return
    keys = {"node.session.auth.authmethod": "CHAP",
            "node.session.auth.username": user,
            "node.session.auth.password": secret}
    for f in files:
        with open(f) as fh:
            lines = [ln for ln in fh.read().splitlines()
                     if ln.split("=", 1)[0].strip() not in keys]
        end = next((i for i, ln in enumerate(lines) if ln.strip() == "# END RECORD"),
                   len(lines))
        lines[end:end] = [f"{k} = {v}" for k, v in keys.items()]
        tmp = f + ".dualmirror-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, f)


def _clear_chap(iqn, portal, iface):
    _node_update(iqn, portal, iface, "node.session.auth.authmethod", "None", check=False)


def pm_on(iqn):
    """Runtime PM off ('on') for the SCSI target of iqn's session.

    Debian's 6.1 kernel (since 6.1.167, upstream 29ab76827761) can warn
    at logout: the session's WQ_MEM_RECLAIM unbind work flushes the
    target's runtime-PM work on pm_wq; with control=on it is never queued.
    See Documentation/testing.rst, "A kernel warning at iSCSI logout"."""
    s = session(iqn)
    if s is None:
        return
    for f in glob.glob(f"{s}/device/target*/power/control"):
        try:
            with open(f, "w") as fh:
                fh.write("on\n")
        except OSError:
            pass


def normalize_portal(portal):
    if not re.search(r":[0-9]+$", portal) or portal.endswith("]"):
        portal += ":3260"
    return portal


def attach(portal, iqn, chap, transport):
    """Log in to iqn at portal; return the peer disk (/dev/sdX).

    chap: None or (user, secret)."""
    iface = ["-I", "iser"] if transport == "iser" else []
    if not have_cmd("iscsiadm"):
        raise Error("iscsiadm not found (apt-get install open-iscsi)")
    if transport == "iser":
        if not glob.glob("/sys/class/infiniband/*"):
            raise Error("no RDMA device for iSER (for soft-RoCE: modprobe rdma_rxe; "
                        "rdma link add rxe0 type rxe netdev ETH)")
        start_iscsid("ib_iser")
        if not os.path.isdir("/sys/module/ib_iser"):
            raise Error("cannot load ib_iser")
    else:
        start_iscsid()
    if session(iqn):
        d = disks(iqn)
        if d:
            return d[0]
    # A static node record (no discovery: the user's discovery records stay
    # as they are); an existing record of this target is reused.
    rc, _, _ = run_rc(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, *iface])
    created = rc != 0
    if created:
        rc, _, err = run_rc(["iscsiadm", "-m", "node", "-o", "new", "-T", iqn,
                             "-p", portal, *iface])
        if rc != 0:
            raise Error(f"cannot create the node record of {iqn} at {portal}: "
                        f"{err.strip()}")
    if chap:
        _store_chap(iqn, portal, iface, chap[0], chap[1])
    else:
        _clear_chap(iqn, portal, iface)
    if transport == "iser":
        # iSER: the target reads every write's data with an RDMA READ; no
        # immediate data (Documentation/dualmirror-peer.rst, "iSER").
        params = {"node.session.iscsi.InitialR2T": "Yes",
                  "node.session.iscsi.ImmediateData": "No"}
    else:
        # One round trip for inline writes: data in the command PDU, no R2T.
        params = {"node.session.iscsi.InitialR2T": "No",
                  "node.session.iscsi.ImmediateData": "Yes",
                  "node.session.iscsi.FirstBurstLength": "262144",
                  "node.conn[0].iscsi.MaxRecvDataSegmentLength": "262144"}
    for k, v in params.items():
        _node_update(iqn, portal, iface, k, v, check=False)
    rc, _, err = run_rc(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, *iface,
                         "--login"])
    if rc != 0:
        if created:
            run_rc(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, *iface,
                    "-o", "delete"])
        msg = err.strip().splitlines()
        raise Error(f"login to {iqn} at {portal} failed"
                    + (f": {msg[-1]}" if msg else ""))
    run_rc(["modprobe", "-q", "sd_mod"])
    pm_on(iqn)

    def ready():
        d = disks(iqn)
        return d[0] if d and os.path.exists(d[0]) else None
    # Seconds at most on a real server; a loaded virtual one takes longer.
    disk = wait_for(ready, 30)
    if not disk:
        raise Error(f"logged in to {iqn} but no disk appeared")
    return disk


def holders(disk):
    """[(dm-N, name)] of the devices holding disk."""
    out = []
    for h in glob.glob(f"/sys/class/block/{os.path.basename(disk)}/holders/*"):
        out.append((os.path.basename(h), readval(f"{h}/dm/name", "")))
    return out


def detach(iqn):
    for disk in disks(iqn):
        for h, name in holders(disk):
            raise Error(f"{disk} is in use by {h} ({name}): dmsetup remove it first")
    if session(iqn) is None:
        raise Error(f"not logged in to {iqn}")
    rc, _, err = run_rc(["iscsiadm", "-m", "node", "-T", iqn, "--logout"])
    if rc != 0:
        raise Error(f"logout from {iqn} failed: {err.strip()}")
    run_rc(["iscsiadm", "-m", "node", "-T", iqn, "-o", "delete"])


# ---- the dm target -----------------------------------------------------------

STATUS_FIELDS = ("state", "out_of_sync/total", "inline_ops", "inline_irqs",
                 "split_ops", "split_irqs", "peer_errors", "inline_mean_us",
                 "split_mean_us", "generation", "peer_flushes", "fua_writes",
                 "overlap_waits", "last_peer_error", "retries", "bitmap_regions",
                 "resync_kib_s", "resync_seconds_left", "bitmap_write_errors",
                 "discard_ops", "discard_irqs", "write_zeroes_ops",
                 "write_zeroes_irqs", "discards_not_sent", "peer_writes_copied")


def dm_exists(name):
    return run_rc(["dmsetup", "info", name])[0] == 0


def dm_status(name):
    """The target's status fields (a list, after 'dualmirror'); Error if the
    device is missing or of another target."""
    rc, out, err = run_rc(["dmsetup", "status", name])
    if rc != 0:
        raise Error(f"{name}: {err.strip() or 'no such device'}")
    f = out.split()
    if len(f) < 4 or f[2] != "dualmirror":
        raise Error(f"{name} is not a dualmirror device")
    return f[3:]


def dm_devnum(name):
    """'MAJ:MIN' of dm device name, or None."""
    rc, out, _ = run_rc(["dmsetup", "info", "-c", "--noheadings", "-o",
                         "major,minor", "--separator", ":", name])
    return out.strip() if rc == 0 and out.strip() else None


def dm_table(name):
    rc, out, _ = run_rc(["dmsetup", "table", name])
    return out.strip() if rc == 0 else None


def print_status(name, out):
    f = dm_status(name)
    g = f + [""] * (len(STATUS_FIELDS) - len(f))
    # The first 14 as they always were, then the fields added since.
    for k, v in list(zip(STATUS_FIELDS, g))[:14]:
        out.write(f"{k:<22} {v}\n")

    def ratio(a, b):
        try:
            a, b = int(a), int(b)
        except ValueError:
            return "-"
        return f"{b / a:.2f}" if a else "-"
    out.write(f"{'irqs_per_inline_op':<22} {ratio(g[2], g[3])}\n")
    out.write(f"{'irqs_per_split_op':<22} {ratio(g[4], g[5])}\n")
    for k, v in list(zip(STATUS_FIELDS, g))[14:]:
        if v != "":
            out.write(f"{k:<22} {v}\n")


def load_target_module():
    if os.path.isdir("/sys/module/dm_dualmirror"):
        return
    rc, _, _ = run_rc(["modprobe", "dm_dualmirror"])
    if rc == 0:
        return
    from .peer import TOOL_DIR
    ko = os.environ.get("DUALMIRROR_KO",
                        os.path.join(TOOL_DIR, "..", "drivers", "md", "dm-dualmirror.ko"))
    if not os.path.isfile(ko) or run_rc(["insmod", ko])[0] != 0:
        raise Error("cannot load dm-dualmirror (modprobe dm_dualmirror failed)")


def dmsetup(*args):
    return run(["dmsetup", *args])
