# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the primary's VM selftests (selftests/vm/30-primary-*.sh),
# sourced after selftests/lib.sh. Not a test itself (not *.sh).

DMW_PEER_CTL=/sys/devices/dualmirror_peer

# dmw_peer_add BACKING [meta=METADEV]: make BACKING a dualmirror peer disk
# with the peer module; print "hostN /dev/sdX".
dmw_peer_add() {
	local backing=$1 h disk
	dm_load_module dualmirror_peer || return 1
	echo "$*" >"$DMW_PEER_CTL/add" || return 1
	for h in $(dm_scsi_hosts dualmirror_peer); do
		[ "$(cat "/sys/class/scsi_host/$h/dualmirror/backing" 2>/dev/null)" = "$backing" ] ||
			continue
		modprobe sd_mod 2>/dev/null
		disk=$(dm_scsi_disk_of "$h") || return 1
		echo "$h $disk"
		return 0
	done
	return 1
}

# dmw_peer_remove HOST: remove the peer disk of hostN.
dmw_peer_remove() {
	[ -e "$DMW_PEER_CTL/remove" ] || return 0
	echo "$1" >"$DMW_PEER_CTL/remove"
}

# dmw_peer_stat HOST NAME: one counter of the peer disk.
dmw_peer_stat() {
	cat "/sys/class/scsi_host/$1/dualmirror_stats/$2"
}

# dmw_field DEV N: field N (1-based) of the target's status, after the
# "start len dualmirror" prefix. Split by bash, not awk: the tests read
# the status thousands of times (most of them polls), and each program
# started costs tens of milliseconds of emulated CPU.
dmw_field() {
	local -a f
	read -r -a f <<<"$(dmsetup status "$1")"
	echo "${f[$2 + 2]:-}"
}

# dmw_oos DEV: out-of-sync sectors (field 2, before its "/").
dmw_oos() {
	local -a f
	read -r -a f <<<"$(dmsetup status "$1")"
	echo "${f[4]%%/*}"
}

# dmw_fio NAME JSON FIO-ARGS...: fio with verification on /dev/mapper/NAME,
# JSON output to the file JSON. Refuses to run on anything but a block
# device (fio would silently write a regular file).
dmw_fio() {
	local dev=/dev/mapper/$1 json=$2
	shift 2
	[ -b "$dev" ] || { echo "$dev is not a block device" >&2; return 1; }
	fio --name=dmw --filename="$dev" --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 \
		--output-format=json --output="$json" "$@"
}

# dmw_fio_signal PID SIG: SIG to every fio process of a fio started in
# the background as PID (a shell running dmw_fio, or fio itself): fio's
# main process and its job's, not the shell; fails if there is none.
dmw_fio_signal() {
	local pids=("$1") p q n=0
	for p in $(pgrep -P "$1"); do
		pids+=("$p")
		for q in $(pgrep -P "$p"); do pids+=("$q"); done
	done
	for p in "${pids[@]}"; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = fio ] || continue
		kill "-$2" "$p" && n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

# dmw_fio_across PID CUT: run CUT (eval), the start of a fault, with the
# fio of PID stopped (SIGSTOP), and let fio go on after it (SIGCONT):
# whatever fio writes from then on meets the fault, however late CUT's
# commands run in a starved guest.  Without the stop, a rate-limited fio
# with a second or two of writes left can end before the fault begins,
# and the fault meets no write.  Returns CUT's status.
dmw_fio_across() {
	local rc
	dmw_fio_signal "$1" STOP || echo "# dmw_fio_across: fio had ended before the fault" >&2
	eval "$2"
	rc=$?
	dmw_fio_signal "$1" CONT
	return $rc
}

# dmw_fio_writes JSON: writes fio issued.
dmw_fio_writes() {
	"$DM_PYTHON" -c 'import json,sys
print(sum(j["write"]["total_ios"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$1"
}

# dmw_fio_syncs JSON: fsyncs fio issued.
dmw_fio_syncs() {
	"$DM_PYTHON" -c 'import json,sys
print(sum(j["sync"]["total_ios"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$1"
}

# dmw_fio_errors JSON: errors fio saw.
dmw_fio_errors() {
	"$DM_PYTHON" -c 'import json,sys
print(sum(j["error"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$1"
}

# dmw_fio_counts JSON: "ERRORS WRITES SYNCS", the three figures above
# from one python3 start (about a second of emulated CPU each): for a test
# that checks more than one of them after the same fio run.
dmw_fio_counts() {
	"$DM_PYTHON" -c 'import json,sys
jobs = json.load(open(sys.argv[1]))["jobs"]
print(sum(j["error"] for j in jobs), sum(j["write"]["total_ios"] for j in jobs),
      sum(j["sync"]["total_ios"] for j in jobs))' "$1"
}

# dmw_same A B SECTORS: the first SECTORS of A and B are byte-identical
# (read with O_DIRECT: the peer writes its backing device under the page
# cache).
dmw_same() {
	local a b
	a=$(dd if="$1" iflag=direct,count_bytes bs=1M count=$(($3 * 512)) 2>/dev/null | md5sum)
	b=$(dd if="$2" iflag=direct,count_bytes bs=1M count=$(($3 * 512)) 2>/dev/null | md5sum)
	[ "$a" = "$b" ] && [ -n "$a" ]
}

# dmw_field_is DEV N VALUE / dmw_field_gt DEV N VALUE: field N of the
# status, read now (for dm_wait_for).
dmw_field_is() {
	local -a f
	read -r -a f <<<"$(dmsetup status "$1")"
	[ "${f[$2 + 2]:-}" = "$3" ]
}

dmw_field_gt() {
	local -a f
	read -r -a f <<<"$(dmsetup status "$1")"
	[ "${f[$2 + 2]:-}" -gt "$3" ]
}

# dmw_wait_state DEV WORD SECS: wait until the status' state word is WORD.
dmw_wait_state() {
	dm_wait_for "$3" dmw_field_is "$1" 1 "$2"
}

# dmw_latency_count DEV FRAMING: operations in FRAMING's latency histogram
# ("dmsetup message DEV 0 latency").
dmw_latency_count() {
	dmsetup message "$1" 0 latency | awk -v f="$2" '$1 == f {
		for (i = 2; i <= NF; i++) { split($i, kv, ":"); n += kv[2] }
	} END { print n + 0 }'
}
