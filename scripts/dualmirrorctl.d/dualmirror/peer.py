# SPDX-License-Identifier: GPL-2.0
"""The peer node: dualmirror_peer.ko disks and their LIO export.

Documentation/dualmirror-peer.rst describes the kernel interface used here
(/sys/devices/dualmirror_peer/ and /sys/class/scsi_host/hostN/); the LIO
configuration goes through rtslib_fb (python3-rtslib-fb), as targetcli's.
"""

import glob
import os
import re

from .util import (Error, UsageError, devnum, ensure_node, modprobe,
                   readval, run_rc, wait_for, warn, write_sysfs)

SYSFS = "/sys/devices/dualmirror_peer"
MOD = "dualmirror_peer"
CONFIGFS = "/sys/kernel/config/target"
SO_PREFIX = "dmpeer_"
IQN_RE = re.compile(r"^iqn\.[0-9]{4}-[0-9]{2}\.[A-Za-z0-9][A-Za-z0-9.-]*(:\S+)?$")
TOOL_DIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def check_iqn(iqn, usage=True):
    if not IQN_RE.match(iqn):
        msg = f"'{iqn}' is not a valid IQN (e.g. iqn.2026-11.org.example:peer0)"
        raise UsageError(msg) if usage else Error(msg)


def parse_portal(portal):
    """'ADDR:PORT' ([v6]:PORT) -> (addr, port); UsageError if malformed."""
    m = re.match(r"^(\[[0-9a-fA-F:]+\]|[0-9.]+):([0-9]{1,5})$", portal)
    if not m:
        raise UsageError("--portal takes ADDR:PORT (e.g. 192.0.2.10:3260)")
    port = int(m.group(2))
    if not 1 <= port <= 65535:
        raise UsageError(f"bad port {port}")
    return m.group(1).strip("[]"), port


def load_module():
    """dualmirror_peer (modprobe, or the .ko of the source tree) and sd_mod."""
    ko = os.environ.get("DUALMIRROR_PEER_KO",
                        os.path.join(TOOL_DIR, "..", "drivers", "scsi", MOD + ".ko"))
    modprobe("sd_mod")
    if os.path.isdir(SYSFS):
        return
    rc, _, _ = run_rc(["modprobe", MOD])
    if rc != 0:
        if not os.path.isfile(ko):
            raise Error(f"cannot load {MOD}: not installed and {ko} not found")
        rc, _, err = run_rc(["insmod", ko])
        if rc != 0:
            raise Error(f"insmod {ko} failed: {err.strip()}")
    if not os.path.isdir(SYSFS):
        raise Error(f"{MOD} loaded but {SYSFS} is missing")


def loaded():
    return os.path.isdir(SYSFS)


def hosts():
    """[(hostN, 'MAJ:MIN', path)] of the attached peer disks."""
    out = []
    try:
        with open(f"{SYSFS}/peers") as f:
            for line in f:
                p = line.split(None, 2)
                if len(p) == 3:
                    out.append((p[0], p[1], p[2].rstrip("\n")))
    except OSError:
        pass
    return out


def disk_of_host(host):
    """The sdX of a peer host (None if none yet)."""
    n = host[4:]
    for b in glob.glob(f"/sys/bus/scsi/devices/{n}:0:0:0/block/*"):
        return os.path.basename(b)
    return None


def host_of_disk(arg):
    """hostN of a peer disk given as /dev/sdX, sdX or hostN."""
    if re.match(r"^host[0-9]+$", arg):
        host = arg
    else:
        name = arg[5:] if arg.startswith("/dev/") else arg
        if not name or "/" in name or not os.path.exists(f"/sys/block/{name}/device"):
            raise Error(f"{arg}: no such SCSI disk")
        path = os.path.realpath(f"/sys/block/{name}/device")
        host = next((c for c in path.split("/") if re.match(r"^host[0-9]+$", c)), None)
        if host is None:
            raise Error(f"{arg}: not a SCSI disk")
    if readval(f"/sys/class/scsi_host/{host}/proc_name") != MOD:
        raise Error(f"{arg}: not a {MOD} disk")
    return host


def host_of_backing(dev):
    """hostN whose backing device is dev (same device number), or None."""
    num = devnum(dev)
    return next((h for h, d, _ in hosts() if d == num), None)


def exports(host):
    """Sorted target IQNs whose LUNs use the host's disk (pscsi)."""
    n = host[4:]
    found = set()
    if not os.path.isdir(f"{CONFIGFS}/core"):
        return []
    luns = glob.glob(f"{CONFIGFS}/iscsi/iqn.*/tpgt_*/lun/lun_*/*")
    for so in glob.glob(f"{CONFIGFS}/core/pscsi_*/*"):
        try:
            with open(f"{so}/info") as f:
                info = f.read()
        except OSError:
            continue
        if not re.search(rf"Host ID: {n}( |$)", info, re.M):
            continue
        rso = os.path.realpath(so)
        for lun in luns:
            if os.path.islink(lun) and os.path.realpath(lun) == rso:
                found.add(lun[len(CONFIGFS) + len("/iscsi/"):].split("/")[0])
    return sorted(found)


def target_exists(iqn):
    return os.path.isdir(f"{CONFIGFS}/iscsi/{iqn}")


def sessions(iqn):
    """Initiator IQNs logged in to target iqn (ACL and demo-mode sessions)."""
    out = []
    for tpg in glob.glob(f"{CONFIGFS}/iscsi/{iqn}/tpgt_*"):
        for info in glob.glob(f"{tpg}/acls/*/info"):
            try:
                with open(info) as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"^InitiatorName: (\S+)", text, re.M)
            if m:
                out.append(m.group(1))
        try:
            with open(f"{tpg}/dynamic_sessions") as f:
                out += [s for s in f.read().replace("\0", "\n").split() if s]
        except OSError:
            pass
    return sorted(set(out))


def lio_prepare():
    modprobe("target_core_mod", "target_core_pscsi", "iscsi_target_mod")
    if not os.path.isdir(CONFIGFS):
        if not os.path.ismount("/sys/kernel/config"):
            rc, _, _ = run_rc(["mount", "-t", "configfs", "configfs", "/sys/kernel/config"])
            if rc != 0:
                raise Error("cannot mount configfs")
    if not os.path.isdir(f"{CONFIGFS}/core"):
        raise Error(f"LIO configfs ({CONFIGFS}) is missing")


def iser_prepare():
    if not glob.glob("/sys/class/infiniband/*"):
        raise Error("no RDMA device for iSER (for soft-RoCE: modprobe rdma_rxe; "
                    "rdma link add rxe0 type rxe netdev ETH)")
    modprobe("ib_isert")


def rtslib():
    try:
        import rtslib_fb
    except ImportError:
        raise Error("python3-rtslib-fb is not installed "
                    "(apt-get install python3-rtslib-fb)") from None
    return rtslib_fb


# ---- commands ----------------------------------------------------------------

def add(dev, meta=None):
    """Attach dev; return '/dev/sdX'.  meta: the node's metadata device,
    where the peer disk keeps its generation ('BACKING meta=METADEV'; the
    same format as the primary's meta_dev, so one meta device serves the
    node in both roles).  A dualmirror_peer without that option (it reads
    the whole line as a path: ENOENT) gets the backing device alone."""
    try:
        num = devnum(dev)
    except Error:
        raise Error(f"{dev} is not a block device") from None
    if meta is not None:
        try:
            devnum(meta)
        except Error:
            raise Error(f"{meta} is not a block device") from None
    load_module()
    if any(d == num for _, d, _ in hosts()):
        raise Error(f"{dev} is already a peer disk's backing device")
    try:
        try:
            write_sysfs(f"{SYSFS}/add", f"{dev} meta={meta}" if meta else dev)
        except FileNotFoundError:
            if not meta:
                raise
            warn(f"this dualmirror_peer takes no meta device: {dev}'s generation "
                 f"is not kept on {meta} (a later primary resyncs more)")
            write_sysfs(f"{SYSFS}/add", dev)
    except OSError as e:
        if "busy" in (e.strerror or "").lower():
            raise Error(f"{dev}{' or ' + meta if meta else ''} is in use (mounted, "
                        "or held exclusively by another user such as LVM, md, dm "
                        "or LIO)") from None
        raise Error(f"cannot attach {dev}{' with meta ' + meta if meta else ''}: "
                    f"{e.strerror}") from None
    host = next((h for h, d, _ in hosts() if d == num), None)
    if host is None:
        raise Error(f"attached {dev} but cannot find its SCSI host")
    # The disk's directory under the SCSI device appears before the kernel
    # has made its "dev" attribute and its /sys/class/block link (both in
    # device_add()): wait for those too, or ensure_node() may find
    # neither (seen in a TCG guest on a loaded host: "no block device sda").
    def ready():
        name = disk_of_host(host)
        return name if name and readval(f"/sys/class/block/{name}/dev") else None

    name = wait_for(ready, 30)
    if not name:
        raise Error(f"{host} created but no SCSI disk appeared (is sd_mod loaded?)")
    return ensure_node(name)


def remove(disk):
    if not loaded():
        raise Error(f"{MOD} is not loaded")
    host = host_of_disk(disk)
    ex = exports(host)
    if ex:
        raise Error(f"{disk} is exported as {' '.join(ex)}; "
                    "run 'dualmirrorctl peer unexport' first")
    try:
        write_sysfs(f"{SYSFS}/remove", host)
    except OSError as e:
        raise Error(f"cannot remove {disk}: {e.strerror}") from None


def _params(transport):
    if transport == "iser":
        # iSER: no immediate data (isert would pass it to pscsi in place,
        # in its receive buffer, as one scatterlist entry that
        # pscsi_map_sg() refuses when it crosses a page) and no unsolicited
        # Data-Out: the target reads the data of each write with one RDMA
        # READ. MaxRecvDataSegmentLength is not negotiated on iSER.
        return {"ImmediateData": "No", "InitialR2T": "Yes"}
    return {"ImmediateData": "Yes", "InitialR2T": "No",
            "MaxRecvDataSegmentLength": "65536", "FirstBurstLength": "65536"}


def _set_access(tpg, lun, allow, chap_user, chap_secret):
    """ACL (allow) with optional CHAP, or demo mode (allow None)."""
    r = rtslib()
    if allow:
        tpg.set_attribute("generate_node_acls", "0")
        tpg.set_attribute("demo_mode_write_protect", "1")
        for acl in list(tpg.node_acls):
            if acl.node_wwn != allow:
                acl.delete()
        acl = r.NodeACL(tpg, allow)
        if not any(m.mapped_lun == 0 for m in acl.mapped_luns):
            r.MappedLUN(acl, 0, lun, write_protect=False)
        acl.chap_userid = chap_user or ""
        acl.chap_password = chap_secret or ""
        tpg.set_attribute("authentication", "1" if chap_user else "0")
    else:
        for acl in list(tpg.node_acls):
            acl.delete()
        for key, value in (("generate_node_acls", "1"), ("cache_dynamic_acls", "1"),
                           ("demo_mode_write_protect", "0"), ("authentication", "0")):
            tpg.set_attribute(key, value)


def export(disk, iqn, ip, port, allow, chap_user, chap_secret, transport):
    """Export a peer disk with LIO (pscsi backstore, TPG 1, LUN 0)."""
    if not loaded():
        raise Error(f"{MOD} is not loaded")
    host = host_of_disk(disk)
    name = disk_of_host(host)
    if not name:
        raise Error(f"{disk}: no SCSI disk on {host}")
    dev = ensure_node(name)
    lio_prepare()
    if transport == "iser":
        iser_prepare()
    r = rtslib()
    root = r.RTSRoot()
    if any(t.wwn == iqn for t in root.targets):
        raise Error(f"cannot export {dev} as {iqn}: target {iqn} already exists")
    target = so = None
    try:
        so = r.PSCSIStorageObject(SO_PREFIX + host, dev=dev)
        target = r.Target(r.FabricModule("iscsi"), iqn)
        tpg = r.TPG(target, 1)
        portal = r.NetworkPortal(tpg, ip, int(port))
        if transport == "iser":
            portal.iser = True
            if not portal.iser:
                raise r.RTSLibError("cannot enable iSER on the portal (ib_isert)")
        lun = r.LUN(tpg, 0, so)
        for key, value in _params(transport).items():
            tpg.set_parameter(key, value)
        _set_access(tpg, lun, allow, chap_user, chap_secret)
        tpg.enable = True
    except (r.RTSLibError, OSError, ValueError) as e:
        if target is not None:
            target.delete()
        if so is not None:
            so.delete()
        raise Error(f"cannot export {dev} as {iqn}: LIO: {e}") from None
    return dev


def update_export(iqn, ip, port, allow, chap_user, chap_secret, transport):
    """Bring an existing export's portal, parameters and access in line;
    return the list of what changed (sessions stay unless access changed)."""
    r = rtslib()
    root = r.RTSRoot()
    target = next((t for t in root.targets if t.wwn == iqn), None)
    if target is None:
        raise Error(f"no iSCSI target {iqn}")
    changed = []
    try:
        tpg = next(iter(target.tpgs))
        lun = next(iter(tpg.luns))
        portals = list(tpg.network_portals)
        if not any(p.ip_address == ip and p.port == int(port) for p in portals):
            for p in portals:
                p.delete()
            p = r.NetworkPortal(tpg, ip, int(port))
            if transport == "iser":
                p.iser = True
            changed.append(f"portal {ip}:{port}")
        for p in tpg.network_portals:
            if (transport == "iser") != bool(p.iser):
                p.iser = transport == "iser"
                changed.append(f"transport {transport}")
        for key, value in _params(transport).items():
            if tpg.get_parameter(key) != value:
                tpg.set_parameter(key, value)
                changed.append(f"{key}={value}")
        acls = {a.node_wwn: a for a in tpg.node_acls}
        want_auth = "1" if (allow and chap_user) else "0"
        same = (set(acls) == ({allow} if allow else set())
                and tpg.get_attribute("authentication") == want_auth
                and (not allow or (acls[allow].chap_userid == (chap_user or "")
                                   and acls[allow].chap_password == (chap_secret or ""))))
        if not same:
            _set_access(tpg, lun, allow, chap_user, chap_secret)
            changed.append("access (ACL/CHAP)")
    except (r.RTSLibError, OSError, ValueError, StopIteration) as e:
        raise Error(f"cannot update {iqn}: LIO: {e}") from None
    return changed


def unexport(arg):
    """Remove target arg (an IQN) or every target exporting disk arg."""
    if not os.path.isdir(f"{CONFIGFS}/iscsi"):
        raise Error("no iSCSI target is configured")
    if arg.startswith("iqn."):
        if not target_exists(arg):
            raise Error(f"no iSCSI target {arg}")
        iqns = [arg]
    else:
        if not loaded():
            raise Error(f"{MOD} is not loaded")
        iqns = exports(host_of_disk(arg))
        if not iqns:
            raise Error(f"{arg} is not exported")
    r = rtslib()
    root = r.RTSRoot()
    sos = set()
    try:
        for t in list(root.targets):
            if t.wwn not in iqns:
                continue
            for tpg in t.tpgs:
                for lun in tpg.luns:
                    sos.add(lun.storage_object.name)
            t.delete()
        for so in list(root.storage_objects):
            if (so.name in sos and so.plugin == "pscsi"
                    and so.name.startswith(SO_PREFIX) and not list(so.attached_luns)):
                so.delete()
    except r.RTSLibError as e:
        raise Error(f"cannot unexport {arg}: LIO: {e}") from None
    return iqns


def disk_info(host):
    """Everything the status shows about one peer host, as a dict."""
    d = f"/sys/class/scsi_host/{host}/dualmirror"
    s = f"/sys/class/scsi_host/{host}/dualmirror_stats"
    info = {"host": host}
    for _, num, path in (x for x in hosts() if x[0] == host):
        info["backing"], info["backing_devnum"] = path, num
    name = disk_of_host(host)
    info["disk"] = f"/dev/{name}" if name else None
    for k in ("capacity_sectors", "logical_block_size", "generation", "waiting",
              "staged_bytes", "staging_kib"):
        info[k] = readval(f"{d}/{k}", "")
    info["serial"] = vpd_serial(name) if name else None
    info["exports"] = exports(host)
    stats = {}
    for f in sorted(glob.glob(f"{s}/*")):
        if os.path.basename(f) != "reset":
            stats[os.path.basename(f)] = readval(f, "")
    info["stats"] = stats
    return info


def vpd_serial(name):
    """The unit serial number (VPD page 80h) of SCSI disk name, or None."""
    try:
        with open(f"/sys/block/{name}/device/vpd_pg80", "rb") as f:
            page = f.read()
    except OSError:
        return None
    if len(page) < 4:
        return None
    n = (page[2] << 8) | page[3]
    return page[4:4 + n].decode("ascii", "replace").strip(" \0") or None


def print_status(out):
    if not loaded():
        out.write(f"{MOD} is not loaded: no peer disks\n")
        return
    hs = hosts()
    if not hs:
        out.write("no peer disks\n")
        return
    for host, num, path in hs:
        d = f"/sys/class/scsi_host/{host}/dualmirror"
        s = f"/sys/class/scsi_host/{host}/dualmirror_stats"
        name = disk_of_host(host) or "(no disk)"

        def v(f, d=d):
            return readval(f"{d}/{f}", "")
        out.write(f"{host}: /dev/{name} backing {path} ({num})\n")
        out.write(f"  capacity {v('capacity_sectors')} sectors, logical block "
                  f"{v('logical_block_size')} bytes\n")
        out.write(f"  generation {v('generation')} (in memory), {v('waiting')}, "
                  f"staged_bytes {v('staged_bytes')} of {v('staging_kib')} KiB\n")
        out.write(f"  exported as: {' '.join(exports(host)) or 'none'}\n")
        for fr in ("inline", "split", "control", "total"):
            line = f"  {fr}:"
            for f in ("commands", "data_transfers", "interrupts", "writes",
                      "bytes_written", "rejected"):
                line += f" {f}={readval(f'{s}/{fr}_{f}', '')}"
            out.write(line + "\n")
        line = ""
        for f in sorted(glob.glob(f"{s}/rejected_*")):
            val = readval(f, "0")
            if val != "0":
                line += f" {os.path.basename(f)[len('rejected_'):]}={val}"
        out.write(f"  rejected by reason:{line or ' none'}\n")
        line = ""
        for f in ("split_staged", "split_staged_expired", "split_staged_dropped",
                  "split_desc_parked", "claims", "io_errors", "scsi_commands",
                  "scsi_rejected", "scsi_bytes_read", "scsi_bytes_written"):
            line += f" {f}={readval(f'{s}/{f}', '')}"
        out.write(f"  other:{line}\n")
