# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# (Its variables are for the tests that source it.)
# shellcheck disable=SC2034
#
# Helpers of the two-guest tests of resources (config files and the
# dualmirrorctl verbs: 60-resource, 70-switchover, 75-active-active),
# sourced after lib-pair.bash.

CTL=$DM_REPO/scripts/dualmirrorctl
CONFDIR=/etc/dualmirror

# json KEY...: fields of the JSON object on standard input, one line each;
# KEY is a path of dot-separated keys and list indexes (e.g.
# "resources.0.state"). Give all the keys of one object to one call: each
# python3 start costs about a second of emulated CPU.
json() {
	"$DM_PYTHON" -c 'import json,sys
d = json.load(sys.stdin)
for p in sys.argv[1:]:
    v = d
    for k in p.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(v)' "$@"
}

# jsonl KEY...: json KEY..., the values on one line, separated by spaces.
jsonl() {
	json "$@" | paste -sd' '
}

# pctl ARGS: dualmirrorctl on the peer guest, its output and status.
pctl() {
	peer "scripts/dualmirrorctl $* 2>&1"
}

# devnum DEV: MAJ:MIN
devnum() {
	printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"
}

# res_install_conf FILE CONTENT: the same file in $CONFDIR on both guests.
res_install_conf() {
	mkdir -p "$CONFDIR"
	printf '%s' "$2" >"$CONFDIR/$1"
	peer "mkdir -p $CONFDIR; cat >$CONFDIR/$1 <<'EOF_CONF'
$2
EOF_CONF"
}

# res_nodes: iscsid on both guests, and what a config file names them by:
# ME, MYADDR, INI (this guest: host name, address on the link, initiator
# name), PEERH, PINI (the peer guest's).
res_nodes() {
	dm_iscsid_start
	peer dm_iscsid_start >/dev/null
	INI=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
	PINI=$(peer "sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi")
	ME=$(hostname)
	PEERH=$(peer hostname)
	MYADDR=$(ip -4 -o addr show dev "$DM_LINK_DEV" | awk '{ print $4 }' | cut -d/ -f1)
}

# res_on_exit_down CMD...: dm_on_exit CMD, a "down" of the test's resource
# in case the test stops half-way, skipped when the test's own last step
# took every resource down on both guests and said so (it sets
# RES_DOWN=1 once that point passed): each such CMD would only start
# dualmirrorctl (seconds of emulated CPU, on the peer through its agent)
# to find nothing to do.
RES_DOWN=
res_on_exit_down() {
	dm_on_exit "[ -n \"\$RES_DOWN\" ] || $*"
}
