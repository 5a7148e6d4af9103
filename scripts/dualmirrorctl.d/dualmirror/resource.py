# SPDX-License-Identifier: GPL-2.0
"""The verbs on resources: up, down, status, connect, disconnect, adjust,
primary, secondary, verify.

Each verb reads /etc/dualmirror/NAME.conf, finds the node it runs on by
host name (or --node), and does that node's part: the peer node adds its
backing device as a dualmirror_peer disk (its generation kept on the
node's meta device) and exports it; the primary node logs in to that
export, checks it is the same peer disk as before (its serial number, VPD
page 80h, is stable: hashed from the backing path) and creates the dm
device NAME with its metadata.  Each verb is idempotent.

A node's role is the config's 'primary' until 'primary' or 'secondary'
changes it; the role is then kept in STATE_DIR/NAME.role and 'up' uses it.
"""

import fcntl
import json
import mmap
import os
import socket
import time

from . import peer, primary
from .util import (Error, devnum, ensure_node, read_secret, readval, run,
                   run_rc, warn)

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
        self.other = next(n for n in res.nodes.values() if n is not self.node)
        saved = saved_role(res.name)
        self.role = saved or res.role_of(self.node)
        self.role_saved = saved is not None


# ---- the role of this node ------------------------------------------------------

ROLES = ("primary", "peer")


def _role_file(name):
    return os.path.join(STATE_DIR, f"{name}.role")


def saved_role(name):
    """The role 'primary' or 'secondary' last gave this node, or None."""
    r = readval(_role_file(name))
    return r if r in ROLES else None


def save_role(name, role):
    """Persist role (atomically: a crash leaves the old or the new one)."""
    os.makedirs(STATE_DIR, exist_ok=True)
    path = _role_file(name)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, (role + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(STATE_DIR, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


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


def _allow(ctx):
    """The initiator this node's export admits: the other node's."""
    res, other = ctx.res, ctx.other
    if res.chap_user and not other.initiator:
        raise Error(f"{res.path}: [node {other.name}] has no 'initiator': with "
                    f"CHAP the export admits only that IQN, so {other.name} needs "
                    "one to log in as the primary")
    return other.initiator


def peer_up(ctx, out):
    res, node = ctx.res, ctx.node
    chap = chap_of(res)
    allow = _allow(ctx)
    if not os.path.exists(node.disk):
        raise Error(f"{res.name}: backing device {node.disk} is missing")
    if primary.dm_exists(res.name):
        raise Error(f"{res.name}: /dev/mapper/{res.name} exists: this node is the "
                    f"primary; 'secondary {res.name}' makes it the peer")
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
        disk = peer.add(node.disk, meta=node.meta)
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
        warn(f"{res.name}: no 'initiator' for {ctx.other.name}: the target is "
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
                        f"node ({ctx.other.name}) first, or use --force")
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
                            _allow(ctx), chap[0] if chap else None,
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


def desired_table(res, node, disk, nosync=False):
    """The table over local disk, meta and peer disk.  nosync (the config's)
    only applies to new metadata on the node that starts as the primary:
    a node promoted from peer has copies that may differ."""
    size = run(["blockdev", "--getsz", node.disk]).strip()
    meta_num = devnum(node.meta)
    feats = res.table_features(meta_num, nosync and _meta_is_new(node.meta))
    return (f"0 {size} dualmirror {devnum(node.disk)} "
            f"{devnum(disk)} {len(feats)} {' '.join(feats)}")


def _norm_table(t):
    """A table without nosync (only meaningful for new metadata)."""
    f = t.split()
    if len(f) > 5 and "nosync" in f[6:]:
        f.remove("nosync")
        f[5] = str(int(f[5]) - 1)
    return " ".join(f)


# ---- an absent peer ---------------------------------------------------------------
#
# The table's peer_dev must be a SCSI disk that speaks dualmirror, and open
# at load time; when the other node is unreachable ('primary --force' after
# losing the primary) there is none.  The mirror then starts over a stand-in:
# a dualmirror_peer disk of this node over a device-mapper device of the
# right size that fails every I/O (dualmirror-absent-NAME: "error", but for
# a first MiB of "zero" for the partition scan), set offline once the
# table is loaded.  Its constructor QUERY is answered; the first CLAIM fails (the
# device is offline), so the target starts degraded, marks every write in
# the bitmap on its meta device, and is told 'disconnect' (its automatic
# reconnect could only reach the stand-in).  'connect NAME' logs in to the
# other node's export once it is there, loads the table with that disk
# (dmsetup reload: the metadata keeps the bitmap), and removes the stand-in.
# Nothing is ever written to the stand-in: it is offline and never claimed.

ABSENT_PREFIX = "dualmirror-absent-"


def _absent_host(name):
    dm = ABSENT_PREFIX + name
    if not peer.loaded() or not primary.dm_exists(dm):
        return None
    num = primary.dm_devnum(dm)
    return next((h for h, d, _ in peer.hosts() if d == num), None)


def absent_disk(name):
    """The stand-in peer disk (/dev/sdX) of resource name, or None."""
    host = _absent_host(name)
    d = peer.disk_of_host(host) if host else None
    return f"/dev/{d}" if d else None


def _absent_create(name, size):
    """The stand-in peer disk: its first MiB reads as zeroes (so that the
    partition scan of the new SCSI disk finds nothing and logs no I/O
    error), the rest fails every I/O."""
    dm = ABSENT_PREFIX + name
    if not primary.dm_exists(dm):
        size = int(size)
        z = min(2048, size)
        table = f"0 {z} zero\n" + (f"{z} {size - z} error\n" if size > z else "")
        rc, _, err = run_rc(["dmsetup", "create", dm], input=table)
        if rc != 0:
            raise Error(f"{name}: cannot create the stand-in {dm}: {err.strip()}")
    run_rc(["dmsetup", "mknodes", dm])
    peer.load_module()
    host = _absent_host(name)
    if host is None:
        return peer.add(f"/dev/mapper/{dm}")
    return ensure_node(peer.disk_of_host(host))


def _absent_remove(name):
    host = _absent_host(name)
    if host is not None:
        peer.remove(host)
    dm = ABSENT_PREFIX + name
    if primary.dm_exists(dm):
        rc, _, err = run_rc(["dmsetup", "remove", dm])
        if rc != 0:
            warn(f"{name}: cannot remove the stand-in {dm}: {err.strip()}")


def _create_absent_table(ctx):
    """/dev/mapper/NAME over the local disk, degraded, its peer absent."""
    res, node = ctx.res, ctx.node
    size = run(["blockdev", "--getsz", node.disk]).strip()
    disk = _absent_create(res.name, size)
    table = desired_table(res, node, disk)
    steps = (["dmsetup", "create", res.name, "--notable"],
             ["dmsetup", "load", res.name, "--table", table])
    for argv in steps:
        rc, _, err = run_rc(argv)
        if rc != 0:
            run_rc(["dmsetup", "remove", res.name])
            _absent_remove(res.name)
            raise Error(f"{res.name}: {' '.join(argv[:2])} failed: {err.strip()} "
                        "(dmesg says why)")
    try:
        with open(f"/sys/block/{os.path.basename(disk)}/device/state", "w") as f:
            f.write("offline\n")
    except OSError as e:
        run_rc(["dmsetup", "remove", res.name])
        _absent_remove(res.name)
        raise Error(f"{res.name}: cannot set the stand-in {disk} offline: {e.strerror}") from None
    rc, _, err = run_rc(["dmsetup", "resume", res.name])
    if rc != 0:
        raise Error(f"{res.name}: dmsetup resume failed: {err.strip()}")
    run_rc(["dmsetup", "mknodes", res.name])
    run_rc(["dmsetup", "message", res.name, "0", "disconnect"])


def _reachable(node, timeout=5.0):
    """Does something listen on node's portal?"""
    try:
        with socket.create_connection((node.address, node.port), timeout=timeout):
            return True
    except OSError:
        return False


class Unreachable(Error):
    """The other node's export cannot be logged in to."""


def _login(ctx):
    """Log in to the other node's export; return its disk, checked.
    Unreachable if there is no login; Error if the disk is not the one
    seen before (that is never a reason to go on without it)."""
    res, other = ctx.res, ctx.other
    if not _reachable(other):
        raise Unreachable(f"{other.portal} does not answer")
    try:
        disk = primary.attach(other.portal, res.target_iqn, chap_of(res),
                              res.transport)
    except Error as e:
        raise Unreachable(str(e)) from None
    try:
        check_identity(res, disk)
    except Error:
        if primary.session(res.target_iqn):
            try:
                primary.detach(res.target_iqn)
            except Error:
                pass
        raise
    return disk


def _login_wait(ctx, wait):
    """_login, retried for up to wait seconds while the other node's export
    is unreachable (both nodes booting at once: the peer's 'up' has not
    exported its disk yet)."""
    res, other = ctx.res, ctx.other
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            return _login(ctx)
        except Unreachable as e:
            if time.monotonic() >= deadline:
                raise
            if not said:
                warn(f"{res.name}: {other.name}'s export {res.target_iqn} is not "
                     f"reachable yet ({e}): waiting up to {wait:g} s")
                said = True
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def _create_table(ctx, disk, nosync):
    res, node = ctx.res, ctx.node
    table = desired_table(res, node, disk, nosync)
    rc, _, err = run_rc(["dmsetup", "create", res.name, "--table", table])
    if rc != 0:
        raise Error(f"{res.name}: dmsetup create failed: {err.strip()} "
                    "(dmesg says why)")


def primary_up(ctx, out, force=False, wait=0):
    """Log in to the other node's export and create the mirror.  force: an
    unreachable export is no error: the mirror starts with its peer absent
    ('primary --force' only; 'up' must not start a second primary).
    wait: seconds to wait for an unreachable export first."""
    res, node, other = ctx.res, ctx.node, ctx.other
    for dev in (node.disk, node.meta):
        if not os.path.exists(dev):
            raise Error(f"{res.name}: {dev} is missing")
    if primary.dm_exists(res.name):
        primary.dm_status(res.name)   # refuses another target's device
        out.write(f"{res.name}: already up (primary, {primary.dm_status(res.name)[0]})\n")
        return
    if peer.target_exists(res.target_iqn):
        raise Error(f"{res.name}: this node exports {res.target_iqn}: it is the "
                    f"peer; 'primary {res.name}' makes it the primary")
    primary.load_target_module()
    was = primary.session(res.target_iqn) is not None
    try:
        disk = _login_wait(ctx, 0 if force else wait)
    except Unreachable as e:
        if not force:
            raise Error(f"{res.name}: cannot reach {other.name}'s export "
                        f"{res.target_iqn}: {e}"
                        + (f" (waited {wait:g} s)" if wait else "")) from None
        warn(f"{res.name}: cannot reach {other.name}'s export ({e}): "
             "starting with the peer absent (degraded)")
        disk = None
    try:
        if disk:
            _create_table(ctx, disk, nosync=node is res.primary and not ctx.role_saved)
        else:
            _create_absent_table(ctx)
    except Error:
        if not was and primary.session(res.target_iqn):
            try:
                primary.detach(res.target_iqn)
            except Error:
                pass
        raise
    if disk:
        ident = disk_identity(disk)
        out.write(f"{res.name}: up (primary: {node.disk} mirrored to {disk}, serial "
                  f"{ident['serial']}, on {other.name} {other.portal})\n")
    else:
        out.write(f"{res.name}: up (primary: {node.disk}, peer {other.name} absent: "
                  f"degraded; 'connect {res.name}' once it is back)\n")


def _primary_teardown(res, remove_table):
    """Remove the mirror's table if remove_table, the stand-in peer disk of
    a failover, and the session to the peer's export."""
    if remove_table:
        rc, _, err = run_rc(["dmsetup", "remove", res.name])
        if rc != 0:
            raise Error(f"{res.name}: dmsetup remove failed: {err.strip()}")
    _absent_remove(res.name)
    if primary.session(res.target_iqn):
        primary.detach(res.target_iqn)


def primary_down(ctx, out):
    res = ctx.res
    exists = primary.dm_exists(res.name)
    if exists:
        primary.dm_status(res.name)
    _primary_teardown(res, exists)
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
    st["peer_absent"] = absent_disk(res.name) is not None
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
    if st["peer_absent"]:
        st["connection"] = "Connecting"
    tot = st["total_sectors"] or 1
    st["in_sync_percent"] = round(100.0 * (tot - st["out_of_sync_sectors"]) / tot, 2)
    st["replication"] = {"connected": "Established", "resyncing": "SyncSource",
                         "outofsync": "PausedSyncS", "degraded": "Off",
                         "fenced": "Off"}.get(state, state)
    st["peer_disk_state"] = "UpToDate" if st["out_of_sync_sectors"] == 0 else "Inconsistent"
    if st["peer_absent"]:
        st["peer_disk_state"] = "DUnknown"
    return st


def primary_adjust(ctx, out):
    res, node = ctx.res, ctx.node
    if not primary.dm_exists(res.name):
        return primary_up(ctx, out)
    if absent_disk(res.name):
        raise Error(f"{res.name}: the peer ({ctx.other.name}) is absent: "
                    f"'connect {res.name}' once it is back, then adjust")
    chap = chap_of(res)
    disk = primary.attach(ctx.other.portal, res.target_iqn, chap, res.transport)
    check_identity(res, disk)
    want = desired_table(res, node, disk)
    have = primary.dm_table(res.name) or ""
    if _norm_table(want) == _norm_table(have):
        out.write(f"{res.name}: nothing to adjust (primary)\n")
        return
    _reload(res.name, _norm_table(want))
    out.write(f"{res.name}: adjusted (primary): table {_norm_table(want)}\n")


def _reload(name, table):
    rc, _, err = run_rc(["dmsetup", "reload", name, "--table", table])
    if rc != 0:
        raise Error(f"{name}: the new table is refused: {err.strip()} "
                    "(dmesg says why); the running one is unchanged")
    rc, _, err = run_rc(["dmsetup", "resume", name])
    if rc != 0:
        raise Error(f"{name}: dmsetup resume failed: {err.strip()}")


# ---- verbs --------------------------------------------------------------------

def up(ctx, out, wait=0):
    if ctx.role == "primary":
        primary_up(ctx, out, wait=wait)
    else:
        peer_up(ctx, out)


def down(ctx, out, force=False):
    if ctx.role == "primary":
        primary_down(ctx, out)
    else:
        peer_down(ctx, out, force)


def adjust(ctx, out):
    (primary_adjust if ctx.role == "primary" else peer_adjust)(ctx, out)


def message(ctx, out, verb, force=False):
    res = ctx.res
    if ctx.role != "primary":
        out.write(f"{res.name}: {verb} is the primary's ({ctx.other.name}); "
                  "nothing to do on the peer\n")
        return
    if not primary.dm_exists(res.name):
        raise Error(f"{res.name} is not up")
    if verb == "connect" and (absent_disk(res.name) or _peer_disk_gone(ctx)):
        return _connect_absent(ctx, out)
    msg = ("reconnect force" if force else "reconnect") if verb == "connect" \
        else "disconnect"
    rc, _, err = run_rc(["dmsetup", "message", res.name, "0", *msg.split()])
    if rc != 0:
        f = primary.dm_status(res.name)
        hint = ""
        if len(f) > 13 and f[13] == "split_brain":
            hint = (f"; split brain: both copies were written alone. 'connect "
                    f"{res.name} --force' here makes this copy win (the other "
                    "node's own writes are lost)")
        raise Error(f"{res.name}: {msg} refused: {err.strip()} (state "
                    f"{f[0]}{hint}; dmesg says why)")
    out.write(f"{res.name}: {verb}ed ({primary.dm_status(res.name)[0]})\n")


def _peer_disk_gone(ctx):
    """The table's peer disk is no disk of the session to the other node
    (the session ended, or a new login gave the disk another name): the
    target cannot reconnect to it, a reload with the current disk can."""
    t = (primary.dm_table(ctx.res.name) or "").split()
    if len(t) < 5 or t[2] != "dualmirror":
        return False
    have = []
    for d in primary.disks(ctx.res.target_iqn):
        try:
            have.append(devnum(d))
        except Error:
            pass
    return t[4] not in have


def _connect_absent(ctx, out):
    """The peer was absent (or its disk is gone): log in to its export,
    load the table with its disk."""
    res, node, other = ctx.res, ctx.node, ctx.other
    was = primary.session(res.target_iqn) is not None
    try:
        disk = _login(ctx)
    except Unreachable as e:
        raise Error(f"{res.name}: {other.name}'s export {res.target_iqn} is not "
                    f"reachable yet ({e}): run 'secondary {res.name}' on "
                    f"{other.name}, then connect again") from None
    try:
        _reload(res.name, desired_table(res, node, disk))
    except Error:
        if not was:
            try:
                primary.detach(res.target_iqn)
            except Error:
                pass
        raise
    _absent_remove(res.name)
    f = primary.dm_status(res.name)
    if f[0] in ("degraded", "fenced"):
        why = f[13] if len(f) > 13 else "?"
        hint = ""
        if why == "split_brain":
            hint = (f": a split brain, both copies were written alone; 'connect "
                    f"{res.name} --force' here makes this copy win (what only "
                    f"{other.name} has is lost), or make {other.name} the primary")
        raise Error(f"{res.name}: logged in to {other.name} ({disk}) but the mirror "
                    f"is {f[0]}, last error {why}{hint}")
    out.write(f"{res.name}: connected to {other.name} ({disk}; {f[0]})\n")


def become_primary(ctx, out, force=False):
    """'primary NAME': make this node the resource's primary."""
    res, node, other = ctx.res, ctx.node, ctx.other
    if ctx.role == "primary" or primary.dm_exists(res.name):
        if primary.dm_exists(res.name):
            out.write(f"{res.name}: already primary ({primary.dm_status(res.name)[0]})\n")
        else:
            primary_up(ctx, out, force=force)
        save_role(res.name, "primary")
        return
    for dev in (node.disk, node.meta):
        if not os.path.exists(dev):
            raise Error(f"{res.name}: {dev} is missing")
    exported = peer.target_exists(res.target_iqn)
    sessions = peer.sessions(res.target_iqn) if exported else []
    if sessions and not force:
        raise Error(f"{res.name}: {', '.join(sessions)} ({other.name}, the primary) "
                    f"is logged in to this node's export: run 'secondary {res.name}' "
                    f"on {other.name} first; if {other.name} is gone for good, "
                    f"'primary {res.name} --force'")
    primary.load_target_module()
    was = primary.session(res.target_iqn) is not None
    disk = None
    try:
        disk = _login(ctx)
    except Unreachable as e:
        if not force:
            if not was and primary.session(res.target_iqn):
                primary.detach(res.target_iqn)
            raise Error(f"{res.name}: cannot reach {other.name}'s export "
                        f"{res.target_iqn} ({e}): run 'secondary {res.name}' on "
                        f"{other.name} first; if {other.name} is gone, "
                        f"'primary {res.name} --force' makes this node the "
                        "primary with its peer absent") from None
        warn(f"{res.name}: cannot reach {other.name}'s export ({e}): the peer is "
             f"absent; 'connect {res.name}' once {other.name} is back as the peer")
    # Stop being the peer: the peer disk's generation stays on our meta.
    if exported:
        peer.unexport(res.target_iqn)
    host = peer_host(ctx)
    if host is not None:
        peer.remove(host)
    try:
        if disk:
            _create_table(ctx, disk, nosync=False)
        else:
            _create_absent_table(ctx)
    except Error as e:
        if not was and primary.session(res.target_iqn):
            try:
                primary.detach(res.target_iqn)
            except Error:
                pass
        try:
            peer_up(ctx, _Null())
            again = "it is the peer again"
        except Error as e2:
            again = f"and cannot be the peer again ({e2})"
        raise Error(f"{e}; {res.name}: this node did not become the primary: "
                    f"{again}") from None
    save_role(res.name, "primary")
    if disk:
        out.write(f"{res.name}: primary ({node.disk} mirrored to {disk} on "
                  f"{other.name}; {primary.dm_status(res.name)[0]})\n")
    else:
        out.write(f"{res.name}: primary, peer {other.name} absent (degraded): run "
                  f"'secondary {res.name}' on {other.name} when it is back, then "
                  f"'connect {res.name}' here\n")


class _Null:
    def write(self, _):
        pass


def dm_open_count(name):
    rc, o, _ = run_rc(["dmsetup", "info", "-c", "--noheadings", "-o", "open", name])
    try:
        return int(o.strip()) if rc == 0 else 0
    except ValueError:
        return 0


def become_secondary(ctx, out, force=False):
    """'secondary NAME': make this node the resource's peer."""
    res, other = ctx.res, ctx.other
    if ctx.role == "peer" and not primary.dm_exists(res.name):
        peer_up(ctx, out)
        save_role(res.name, "peer")
        return
    exists = primary.dm_exists(res.name)
    if exists:
        f = primary.dm_status(res.name)
        st = parse_status(f)
        absent = absent_disk(res.name) is not None
        synced = (st["state"] == "connected" and st["out_of_sync_sectors"] == 0
                  and not absent)
        if not synced and not force:
            raise Error(f"{res.name}: not connected and in sync (state "
                        f"{st['state']}, {st['out_of_sync_sectors']} sectors out of "
                        f"sync{', peer absent' if absent else ''}): {other.name} "
                        "does not have every write. Wait for 'connected' (status), "
                        "or --force: what only this copy has is lost when "
                        f"{other.name} becomes the primary")
        n = dm_open_count(res.name)
        if n:
            raise Error(f"{res.name}: /dev/mapper/{res.name} is open ({n}): unmount "
                        "it and stop its users first")
        if os.path.exists(f"/dev/mapper/{res.name}"):
            run_rc(["blockdev", "--flushbufs", f"/dev/mapper/{res.name}"])
    _primary_teardown(res, exists)
    save_role(res.name, "peer")
    peer_up(ctx, out)
    out.write(f"{res.name}: secondary ({other.name} can become the primary: "
              f"'primary {res.name}' there)\n")


# ---- verify --------------------------------------------------------------------

VERIFY_CHUNK = 4 << 20


def _dev_path(num):
    """A /dev node for MAJ:MIN (made if missing: no udev in small systems)."""
    uevent = f"/sys/dev/block/{num}/uevent"
    name = None
    try:
        with open(uevent) as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    name = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if not name:
        raise Error(f"no block device {num}")
    return ensure_node(name)


def _region_sectors(table_fields):
    feats = table_fields[6:]
    for i, k in enumerate(feats):
        if k == "region_size" and i + 1 < len(feats):
            return int(feats[i + 1])
    return 1024


def _read(fd, buf, off, n):
    mv = memoryview(buf)[:n]
    got = 0
    while got < n:
        r = os.preadv(fd, [mv[got:]], off + got)
        if r <= 0:
            raise OSError(5, "short read")
        got += r
    return bytes(mv)


def _differs(fds, bufs, off, n):
    return _read(fds[0], bufs[0], off, n) != _read(fds[1], bufs[1], off, n)


def verify(ctx, out, resync=False, as_json=False):
    """Compare the two copies region by region; return 0 (identical) or 1."""
    res = ctx.res
    if ctx.role != "primary":
        raise Error(f"{res.name}: verify runs on the primary ({ctx.other.name})")
    if not primary.dm_exists(res.name):
        raise Error(f"{res.name} is not up")
    st = parse_status(primary.dm_status(res.name))
    if absent_disk(res.name) or st["state"] != "connected" or st["out_of_sync_sectors"]:
        raise Error(f"{res.name}: {st['state']}, {st['out_of_sync_sectors']} sectors "
                    "out of sync: verify compares copies that are in sync (wait for "
                    "'connected' and 0 out of sync)")
    t = (primary.dm_table(res.name) or "").split()
    if len(t) < 5 or t[2] != "dualmirror":
        raise Error(f"{res.name}: unexpected table '{' '.join(t)}'")
    length, region = int(t[1]), _region_sectors(t)
    local, peer_disk = _dev_path(t[3]), _dev_path(t[4])
    rbytes, total = region * 512, int(t[1]) * 512
    chunk = min(rbytes, VERIFY_CHUNK)
    start = time.monotonic()
    fds = [os.open(p, os.O_RDONLY | os.O_DIRECT) for p in (local, peer_disk)]
    bufs = [mmap.mmap(-1, chunk) for _ in fds]
    differing, rereads = [], 0
    try:
        nreg = (length + region - 1) // region
        for r in range(nreg):
            off = r * rbytes
            end = min(off + rbytes, total)
            while off < end:
                n = min(chunk, end - off)
                if _differs(fds, bufs, off, n):
                    rereads += 1
                    # once more: a write in flight may have been between legs
                    if _differs(fds, bufs, off, n):
                        differing.append(r)
                        break
                off += n
    except OSError as e:
        raise Error(f"{res.name}: read error while comparing: {e.strerror}") from None
    finally:
        for fd in fds:
            os.close(fd)
    ranges = []
    for r in differing:
        s = r * region
        c = min(region, length - s)
        if ranges and ranges[-1][0] + ranges[-1][1] == s:
            ranges[-1][1] += c
        else:
            ranges.append([s, c])
    requested = []
    if resync:
        for s, c in ranges:
            rc, _, err = run_rc(["dmsetup", "message", res.name, "0", "resync",
                                 str(s), str(c)])
            if rc != 0:
                raise Error(f"{res.name}: 'resync {s} {c}' refused: {err.strip()} "
                            "(dmesg says why)")
            requested.append([s, c])
    result = {"name": res.name, "local": local, "peer_disk": peer_disk,
              "region_sectors": region, "regions": (length + region - 1) // region,
              "sectors": length, "differing_regions": differing,
              "differing_ranges": [{"sector": s, "count": c} for s, c in ranges],
              "rereads": rereads, "resync_requested":
              [{"sector": s, "count": c} for s, c in requested],
              "seconds": round(time.monotonic() - start, 3),
              "identical": not differing}
    if as_json:
        out.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    else:
        out.write(f"{res.name}: compared {result['regions']} regions of {region} "
                  f"sectors ({local} against {peer_disk}) in {result['seconds']:.1f}s: ")
        if not differing:
            out.write("identical\n")
        else:
            out.write(f"{len(differing)} differ\n")
            for s, c in ranges:
                out.write(f"  sectors {s}-{s + c - 1} (regions {s // region}-"
                          f"{(s + c - 1) // region})"
                          f"{': resync requested' if resync else ''}\n")
            if not resync:
                out.write(f"'verify {res.name} --resync' copies them from this node\n")
    return 1 if differing else 0


# ---- status --------------------------------------------------------------------

def status(ctx):
    res = ctx.res
    st = {"name": res.name, "node": ctx.node.name, "role": ctx.role,
          "peer_node": ctx.other.name, "target_iqn": res.target_iqn,
          "initial_primary": res.primary.name, "config": res.as_dict()}
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
