# SPDX-License-Identifier: GPL-2.0
"""The verbs on resources: up, down, status, connect, disconnect, adjust.

Each verb reads /etc/dualmirror/NAME.conf, finds the node it runs on by
host name (or --node), and does that node's part: the peer node adds its
backing device as a dualmirror_peer disk and exports it; the primary node
logs in to that export, checks it is the same peer disk as before (its
serial number, VPD page 80h, is stable: hashed from the backing path) and
creates the dm device NAME with its metadata.  Each verb is idempotent.
"""

import fcntl
import json
import os
import socket

from . import config, peer, primary
from .util import Error, read_secret, readval, run, run_rc, warn

STATE_DIR = os.environ.get("DUALMIRROR_STATE_DIR", "/var/lib/dualmirror")
LOCK_DIR = "/run/dualmirror"


class Ctx:
    def __init__(self, res, node_name):
        self.res = res
        node_name = node_name or socket.gethostname()
        self.node = res.node(node_name)
        if self.node is None:
            raise Error(f"{res.path}: this node ({node_name}) is none of the "
                        f"resource's nodes ({', '.join(res.nodes)}); "
                        "--node NAME picks one")
        self.role = res.role_of(self.node)
        self.other = res.peer if self.role == "primary" else res.primary


def lock(name):
    os.makedirs(LOCK_DIR, exist_ok=True)
    fd = os.open(f"{LOCK_DIR}/{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def chap_of(res):
    if not res.chap_user:
        return None
    return res.chap_user, read_secret(res.chap_secret_file)


# ---- the peer node -----------------------------------------------------------

def peer_host(ctx):
    """hostN of the resource's peer disk, or None."""
    if not peer.loaded():
        return None
    return peer.host_of_backing(ctx.node.disk)


def peer_up(ctx, out):
    res, node = ctx.res, ctx.node
    chap = chap_of(res)
    allow = res.primary.initiator
    if not os.path.exists(node.disk):
        raise Error(f"{res.name}: backing device {node.disk} is missing")
    if peer.target_exists(res.target_iqn):
        host = peer_host(ctx)
        if host is None or res.target_iqn not in peer.exports(host):
            raise Error(f"{res.name}: iSCSI target {res.target_iqn} exists but does "
                        f"not export {node.disk}")
        out.write(f"{res.name}: already up (peer: {node.disk} exported as "
                  f"{res.target_iqn})\n")
        return
    peer.load_module()
    host = peer_host(ctx)
    added = False
    if host is None:
        disk = peer.add(node.disk)
        host = peer.host_of_disk(disk)
        added = True
    disk = f"/dev/{peer.disk_of_host(host)}"
    try:
        peer.export(disk, res.target_iqn, node.address, node.port, allow,
                    chap[0] if chap else None, chap[1] if chap else None,
                    res.transport)
    except Error:
        if added:
            peer.remove(disk)
        raise
    if not allow:
        warn(f"{res.name}: no 'initiator' for {res.primary.name}: the target is "
             "OPEN (demo mode): any initiator can log in and write")
    out.write(f"{res.name}: up (peer: {node.disk} is {disk}, serial "
              f"{peer.vpd_serial(disk[5:])}, exported as {res.target_iqn} on "
              f"{node.portal})\n")


def peer_down(ctx, out, force=False):
    res = ctx.res
    if peer.target_exists(res.target_iqn):
        s = peer.sessions(res.target_iqn)
        if s and not force:
            raise Error(f"{res.name}: {', '.join(s)} is logged in to "
                        f"{res.target_iqn}: run 'down {res.name}' on the primary "
                        f"node ({res.primary.name}) first, or use --force")
        peer.unexport(res.target_iqn)
    host = peer_host(ctx)
    if host is not None:
        peer.remove(host)
    out.write(f"{res.name}: down (peer)\n")


def peer_status(ctx):
    res = ctx.res
    host = peer_host(ctx)
    st = {"disk": None, "exported": peer.target_exists(res.target_iqn),
          "sessions": peer.sessions(res.target_iqn)
          if peer.target_exists(res.target_iqn) else []}
    if host:
        st.update(peer.disk_info(host))
    st["up"] = bool(host) and st["exported"]
    st["connection"] = ("Connected" if st["sessions"] else
                        "Listening" if st["exported"] else "StandAlone")
    return st


def peer_adjust(ctx, out):
    res, node = ctx.res, ctx.node
    if not peer.target_exists(res.target_iqn) or peer_host(ctx) is None:
        return peer_up(ctx, out)
    chap = chap_of(res)
    ch = peer.update_export(res.target_iqn, node.address, node.port,
                            res.primary.initiator, chap[0] if chap else None,
                            chap[1] if chap else None, res.transport)
    out.write(f"{res.name}: " + (f"adjusted (peer): {', '.join(ch)}\n" if ch
                                 else "nothing to adjust (peer)\n"))


# ---- the primary node --------------------------------------------------------

def _state_file(name):
    return os.path.join(STATE_DIR, f"{name}.peer")


def disk_identity(disk):
    name = os.path.basename(disk)
    return {"serial": peer.vpd_serial(name),
            "wwid": readval(f"/sys/block/{name}/device/wwid"),
            "model": readval(f"/sys/block/{name}/device/model")}


def check_identity(res, disk):
    """The peer disk is a dualmirror peer disk and the one seen before."""
    ident = disk_identity(disk)
    if ident["model"] != "DualMirror Peer" or not ident["serial"]:
        raise Error(f"{res.name}: {disk} ({res.target_iqn}) is not a dualmirror "
                    f"peer disk (model '{ident['model']}')")
    path = _state_file(res.name)
    known = readval(path)
    if known and known != ident["serial"]:
        raise Error(f"{res.name}: the peer disk's serial is {ident['serial']}, "
                    f"not {known} as at the first 'up' (recorded in {path}): "
                    "another backing device on the peer? If that is intended "
                    f"(a new peer copy: a full resync needs new metadata), remove {path}")
    if not known:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(path, "w") as f:
            f.write(ident["serial"] + "\n")
    return ident


def _meta_is_new(meta):
    with open(meta, "rb") as f:
        return f.read(4096) == bytes(4096)


def desired_table(res, node, disk):
    size = run(["blockdev", "--getsz", node.disk]).strip()
    meta_num = primary_devnum(node.meta)
    feats = res.table_features(meta_num, _meta_is_new(node.meta))
    return (f"0 {size} dualmirror {primary_devnum(node.disk)} "
            f"{primary_devnum(disk)} {len(feats)} {' '.join(feats)}")


def primary_devnum(path):
    from .util import devnum
    return devnum(path)


def _norm_table(t):
    """A table without nosync (only meaningful for new metadata)."""
    f = t.split()
    if len(f) > 5 and "nosync" in f[6:]:
        f.remove("nosync")
        f[5] = str(int(f[5]) - 1)
    return " ".join(f)


def primary_up(ctx, out):
    res, node = ctx.res, ctx.node
    chap = chap_of(res)
    for dev in (node.disk, node.meta):
        if not os.path.exists(dev):
            raise Error(f"{res.name}: {dev} is missing")
    if primary.dm_exists(res.name):
        primary.dm_status(res.name)   # refuses another target's device
        out.write(f"{res.name}: already up (primary, {primary.dm_status(res.name)[0]})\n")
        return
    primary.load_target_module()
    was = primary.session(res.target_iqn) is not None
    disk = primary.attach(res.peer.portal, res.target_iqn, chap, res.transport)
    try:
        ident = check_identity(res, disk)
        table = desired_table(res, node, disk)
        rc, _, err = run_rc(["dmsetup", "create", res.name, "--table", table])
        if rc != 0:
            raise Error(f"{res.name}: dmsetup create failed: {err.strip()} "
                        "(dmesg says why)")
    except Error:
        if not was:
            try:
                primary.detach(res.target_iqn)
            except Error:
                pass
        raise
    out.write(f"{res.name}: up (primary: {node.disk} mirrored to {disk}, serial "
              f"{ident['serial']}, on {res.peer.name} {res.peer.portal})\n")


def primary_down(ctx, out):
    res = ctx.res
    if primary.dm_exists(res.name):
        primary.dm_status(res.name)
        rc, _, err = run_rc(["dmsetup", "remove", res.name])
        if rc != 0:
            raise Error(f"{res.name}: dmsetup remove failed: {err.strip()}")
    if primary.session(res.target_iqn):
        primary.detach(res.target_iqn)
    out.write(f"{res.name}: down (primary)\n")


def parse_status(fields):
    st = {}
    for k, v in zip(primary.STATUS_FIELDS, fields):
        st[k.replace("/", "_")] = v
    oos, _, total = st.get("out_of_sync_total", "0/0").partition("/")
    st["out_of_sync_sectors"], st["total_sectors"] = int(oos), int(total or 0)
    return st


def primary_status(ctx):
    res = ctx.res
    st = {"up": primary.dm_exists(res.name)}
    s = primary.session(res.target_iqn)
    st["session"] = readval(f"{s}/state") if s else None
    st["peer_disk"] = (primary.disks(res.target_iqn) or [None])[0]
    if st["peer_disk"]:
        st["peer_identity"] = disk_identity(st["peer_disk"])
    st["recorded_peer_serial"] = readval(_state_file(res.name))
    if not st["up"]:
        st["connection"] = "StandAlone"
        return st
    f = primary.dm_status(res.name)
    st["status_line"] = " ".join(f)
    st["table"] = primary.dm_table(res.name)
    st.update(parse_status(f))
    state = st["state"]
    st["connection"] = {"connected": "Connected", "resyncing": "Connected",
                        "outofsync": "Connected", "degraded": "Disconnected",
                        "fenced": "Fenced"}.get(state, state)
    tot = st["total_sectors"] or 1
    st["in_sync_percent"] = round(100.0 * (tot - st["out_of_sync_sectors"]) / tot, 2)
    st["replication"] = {"connected": "Established", "resyncing": "SyncSource",
                         "outofsync": "PausedSyncS", "degraded": "Off",
                         "fenced": "Off"}.get(state, state)
    st["peer_disk_state"] = "UpToDate" if st["out_of_sync_sectors"] == 0 else "Inconsistent"
    return st


def primary_adjust(ctx, out):
    res, node = ctx.res, ctx.node
    if not primary.dm_exists(res.name):
        return primary_up(ctx, out)
    chap = chap_of(res)
    disk = primary.attach(res.peer.portal, res.target_iqn, chap, res.transport)
    check_identity(res, disk)
    want = desired_table(res, node, disk)
    have = primary.dm_table(res.name) or ""
    if _norm_table(want) == _norm_table(have):
        out.write(f"{res.name}: nothing to adjust (primary)\n")
        return
    rc, _, err = run_rc(["dmsetup", "reload", res.name, "--table", _norm_table(want)])
    if rc != 0:
        raise Error(f"{res.name}: the new table is refused: {err.strip()} "
                    "(dmesg says why); the running one is unchanged")
    rc, _, err = run_rc(["dmsetup", "resume", res.name])
    if rc != 0:
        raise Error(f"{res.name}: dmsetup resume failed: {err.strip()}")
    out.write(f"{res.name}: adjusted (primary): table {_norm_table(want)}\n")


# ---- verbs --------------------------------------------------------------------

def up(ctx, out):
    (primary_up if ctx.role == "primary" else peer_up)(ctx, out)


def down(ctx, out, force=False):
    if ctx.role == "primary":
        primary_down(ctx, out)
    else:
        peer_down(ctx, out, force)


def adjust(ctx, out):
    (primary_adjust if ctx.role == "primary" else peer_adjust)(ctx, out)


def message(ctx, out, verb):
    res = ctx.res
    if ctx.role != "primary":
        out.write(f"{res.name}: {verb} is the primary's ({res.primary.name}); "
                  "nothing to do on the peer\n")
        return
    if not primary.dm_exists(res.name):
        raise Error(f"{res.name} is not up")
    msg = "reconnect" if verb == "connect" else "disconnect"
    rc, _, err = run_rc(["dmsetup", "message", res.name, "0", msg])
    if rc != 0:
        raise Error(f"{res.name}: {msg} refused: {err.strip()} (state "
                    f"{primary.dm_status(res.name)[0]}; dmesg says why)")
    out.write(f"{res.name}: {verb}ed ({primary.dm_status(res.name)[0]})\n")


def status(ctx):
    res = ctx.res
    st = {"name": res.name, "node": ctx.node.name, "role": ctx.role,
          "peer_node": ctx.other.name, "target_iqn": res.target_iqn,
          "config": res.as_dict()}
    st.update(primary_status(ctx) if ctx.role == "primary" else peer_status(ctx))
    return st


def _eta(sec):
    try:
        sec = int(sec)
    except (TypeError, ValueError):
        return "-"
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def format_status(st):
    lines = []
    role = st["role"].capitalize()
    if st["role"] == "primary":
        lines.append(f"{st['name']} role:{role} disk:{st['config']['nodes'][st['node']]['disk']}"
                     f" {'up' if st['up'] else 'down'}")
        conn = st["connection"]
        lines.append(f"  {st['peer_node']} role:Peer connection:{conn} "
                     f"session:{st.get('session') or 'none'}")
        if st["up"]:
            line = (f"    replication:{st['replication']} "
                    f"peer-disk:{st['peer_disk_state']}")
            if st["out_of_sync_sectors"]:
                line += f" done:{st['in_sync_percent']:.2f}"
                if st["state"] == "resyncing":
                    line += (f" eta:{_eta(st.get('resync_seconds_left'))}"
                             f" rate:{st.get('resync_kib_s', '-')}KiB/s")
            lines.append(line)
            lines.append(f"    state:{st['state']} out-of-sync:"
                         f"{st['out_of_sync_sectors']}/{st['total_sectors']} "
                         f"generation:{st['generation']} "
                         f"last-error:{st['last_peer_error']}")
        if st.get("peer_disk"):
            lines.append(f"    peer-disk:{st['peer_disk']} serial:"
                         f"{st.get('peer_identity', {}).get('serial')}")
    else:
        lines.append(f"{st['name']} role:{role} disk:{st.get('backing') or st['config']['nodes'][st['node']]['disk']}"
                     f" {'up' if st['up'] else 'down'}")
        lines.append(f"  {st['peer_node']} role:Primary connection:{st['connection']}"
                     f" sessions:{','.join(st['sessions']) or 'none'}")
        if st.get("host"):
            lines.append(f"    scsi-disk:{st['disk']} serial:{st.get('serial')} "
                         f"generation:{st.get('generation')} "
                         f"exported:{'yes' if st['exported'] else 'no'}")
    return "\n".join(lines) + "\n"


def status_json(sts):
    return json.dumps(sts, indent=2, sort_keys=True) + "\n"
