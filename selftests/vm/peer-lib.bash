# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by the selftests/vm/20-peer-*.sh tests (sourced after
# selftests/lib.sh): sending mirror messages with sg_raw, decoding the
# sense that comes back, reading the counters, comparing a backing device
# with a reference image.

DMCTL=$DM_REPO/scripts/dualmirrorctl
DMW_MSG=$DM_SELFTESTS/vm/dmw_msg.py
PEER_TMP=${PEER_TMP:-/tmp/peer-test.$$}
mkdir -p "$PEER_TMP"

# dmw_be VAR VALUE BYTES: append VALUE as BYTES big-endian hex bytes to
# VAR (no subshell: a fork costs tens of milliseconds under emulation).
dmw_be() {
	local -n _out=$1
	local v=$2 n=$3 h
	while [ "$n" -gt 0 ]; do
		n=$((n - 1))
		printf -v h ' %02x' $(((v >> (8 * n)) & 255))
		_out+=$h
	done
}

# dmw KIND ARGS...: the 16 hex CDB bytes of a mirror message, written from
# Documentation/dualmirror-protocol.rst (not from the kernel codec); in
# bash because python3 costs about 1 s per start under emulation.
#   dmw inline GEN SEQ LBA SECTORS [FLAGS]
#   dmw data GEN SEQ SECTORS
#   dmw desc GEN SEQ PARAM_LEN
#   dmw query ALLOC_LEN
#   dmw claim ALLOC_LEN [GEN [FLAGS]]   GEN: the generation the claimant
#	last knew (its low 16 bits go in bytes 2-3; default 0), FLAGS: 1 FORCE
dmw() {
	local kind=$1 t c="7f 00"
	case "$kind" in
	inline) t=1 ;;
	data) t=2 ;;
	desc) t=3 ;;
	query) t=4 ;;
	claim) t=5 ;;
	*) echo "dmw: unknown message $kind" >&2; return 1 ;;
	esac
	if [ "$t" -ge 4 ]; then
		if [ "$t" = 5 ]; then
			dmw_be c $((${3:-0} & 0xffff)) 2
			c+=" 00 00 00 08 f9"
			dmw_be c $(((t << 4) | ${4:-0})) 1
		else
			c+=" 00 00 00 00 00 08 f9"
			dmw_be c $((t << 4)) 1
		fi
		c+=" 00 00"
		dmw_be c "$2" 4
	else
		dmw_be c "$2" 2
		dmw_be c $(($3 & 0xffffff)) 3
		c+=" 08 f9"
		if [ "$t" = 1 ]; then
			dmw_be c $((0x10 | ${6:-0})) 1
			dmw_be c $(($5 - 1)) 1
			dmw_be c "$4" 5
		else
			dmw_be c $((t << 4)) 1
			c+=" 00 00"
			dmw_be c "$4" 4
		fi
	fi
	echo "$c"
}

# peer_sg DEV HEXCDB [sg_raw options]: send a command, keep its output in
# SG_OUT and its exit status in SG_RC.  The CDB is one string of hex bytes.
peer_sg() {
	local dev=$1 cdb=$2
	shift 2
	# shellcheck disable=SC2086
	SG_OUT=$(sg_raw -C 1 -v "$@" "$dev" $cdb 2>&1)
	SG_RC=$?
}

# peer_sense_bytes: the raw sense bytes of the last peer_sg (as sg_raw
# printed them: as many as the ADDITIONAL SENSE LENGTH says), in the array
# PEER_SENSE.  Pure bash: no fork.
peer_sense_bytes() {
	local line raw='' f=0
	while IFS= read -r line; do
		if [ "$f" = 1 ]; then
			[[ $line =~ ^\ +[0-9a-f][0-9a-f\ ]*$ ]] || break
			raw+=" $line"
		elif [[ $line == *"Raw sense data"* ]]; then
			f=1
		fi
	done <<<"$SG_OUT"
	read -r -a PEER_SENSE <<<"$raw"
}

# peer_sense: "KK/AA/QQ" of the last peer_sg, plus " sks=XX field=N" when
# the sense-key specific bytes are valid; "good" for GOOD status.  Pure
# bash: no fork.
peer_sense() {
	local -a b
	if [[ $SG_OUT == *"SCSI Status: Good"* ]]; then
		echo good
		return
	fi
	peer_sense_bytes
	b=("${PEER_SENSE[@]}")
	if [ ${#b[@]} -lt 14 ]; then
		echo "no-sense(rc=$SG_RC)"
		return
	fi
	printf '%02x/%s/%s' $((0x${b[2]} & 0xf)) "${b[12]}" "${b[13]}"
	if [ ${#b[@]} -ge 18 ] && [ $((0x${b[15]} & 0x80)) != 0 ]; then
		printf ' sks=%s field=%d' "${b[15]}" $((0x${b[16]}${b[17]}))
	fi
	echo
}

# peer_stat HOST NAME: one counter.
peer_stat() {
	local v
	read -r v <"/sys/class/scsi_host/$1/dualmirror_stats/$2"
	echo "$v"
}

# peer_stats HOST NAME...: "NAME=V NAME=V ..." for an exact comparison.
peer_stats() {
	local h=$1 n v out=
	shift
	for n in "$@"; do
		read -r v <"/sys/class/scsi_host/$h/dualmirror_stats/$n"
		out+="$n=$v "
	done
	echo "${out% }"
}

peer_reset_stats() {
	echo 1 >"/sys/class/scsi_host/$1/dualmirror_stats/reset"
}

# peer_host_of DEV: hostN of a SCSI disk.
peer_host_of() {
	readlink -f "/sys/block/${1#/dev/}/device" | tr / '\n' |
		grep -m1 -E '^host[0-9]+$'
}

# peer_image DEV FILE: copy a whole device (O_DIRECT, bypassing its cache).
peer_image() {
	dd if="$1" of="$2" bs=1M iflag=direct status=none
}

# peer_ref_apply REF SECTOR FILE: what a write of FILE at SECTOR does.
peer_ref_apply() {
	dd if="$3" of="$1" bs=512 seek="$2" conv=notrunc status=none
}

# peer_same DEV REF: the device holds exactly REF.
peer_same() {
	dd if="$1" bs=1M iflag=direct status=none | cmp -s - "$2"
}

# peer_read DEV SECTOR COUNT: COUNT sectors at SECTOR, O_DIRECT, to stdout.
peer_read() {
	dd if="$1" bs=512 skip="$2" count="$3" iflag=direct status=none
}

# peer_random FILE BYTES
peer_random() {
	head -c "$2" /dev/urandom >"$1"
}

# peer_desc OUT DATA LBA SEQ GEN [FLAGS]: write a descriptor, print its
# length.
peer_desc() {
	"$DM_PYTHON" "$DMW_MSG" desc "$@"
}

# peer_parked HOST: one DESC is parked on dualmirror_peer's SCSI host HOST
# (its dualmirror/waiting).  Read with read, not grep: a process per poll
# is slow under load.
peer_parked() {
	local l
	read -r l <"/sys/class/scsi_host/$1/dualmirror/waiting" && [[ $l == *"parked 1"* ]]
}

# peer_split DEV HOST ORDER DATA LBA SEQ GEN [FLAGS]: one split write to
# DEV, a disk of dualmirror_peer's SCSI host HOST (itself, or an iSCSI
# disk LIO exports it by), DATA then DESC ("data-first") or DESC in the
# background, parked on HOST, then DATA ("desc-first").  Sets SG_OUT/SG_RC
# of the DESC and DATA_SENSE/DESC_SENSE.
peer_split() {
	local dev=$1 host=$2 order=$3 data=$4 lba=$5 seq=$6 gen=$7 flags=${8:-0}
	local sectors dlen desc=$PEER_TMP/desc.$seq out rc

	sectors=$(($(stat -c %s "$data") / 512))
	dlen=$(peer_desc "$desc" "$data" "$lba" "$seq" "$gen" "$flags")
	if [ "$order" = data-first ]; then
		peer_sg "$dev" "$(dmw data "$gen" "$seq" "$sectors")" -s $((sectors * 512)) -i "$data"
		DATA_SENSE=$(peer_sense)
		peer_sg "$dev" "$(dmw desc "$gen" "$seq" "$dlen")" -s "$dlen" -i "$desc"
		DESC_SENSE=$(peer_sense)
		return
	fi
	# shellcheck disable=SC2046
	sg_raw -C 1 -v -s "$dlen" -i "$desc" "$dev" $(dmw desc "$gen" "$seq" "$dlen") \
		>"$PEER_TMP/desc.out" 2>&1 &
	local pid=$!
	# the DESC parked before the DATA is sent: what this order tests
	dm_wait_for 60 peer_parked "$host" || :
	peer_sg "$dev" "$(dmw data "$gen" "$seq" "$sectors")" -s $((sectors * 512)) -i "$data"
	DATA_SENSE=$(peer_sense)
	wait "$pid"
	rc=$?
	out=$(cat "$PEER_TMP/desc.out")
	SG_OUT=$out SG_RC=$rc
	DESC_SENSE=$(peer_sense)
}

# peer_send_expect NAME EXPECTED_SENSE DEV HEXCDB [sg_raw options]
peer_send_expect() {
	local name=$1 want=$2 dev=$3 cdb=$4
	shift 4
	peer_sg "$dev" "$cdb" "$@"
	assert_eq "$name" "$want" "$(peer_sense)"
}

peer_cleanup_tmp() {
	rm -rf "$PEER_TMP"
}
