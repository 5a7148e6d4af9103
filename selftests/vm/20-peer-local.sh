#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
# (a guard against a hung guest, not a speed check: with a 2-core host at
# load 10 from other guests the test ran past 300 s, and a test killed by
# its timeout leaves the module parameters it set for the next test)
#
# The peer straight on its local SCSI disk: dualmirrorctl peer add/remove/
# status, the standard commands (sg_inq, sg_vpd, sg_readcap, sg_turs, dd),
# inline and split writes in both orders landing exactly where they should
# (the backing device compared with a reference image), exact counters,
# every refusal reason with its documented sense and nothing written,
# fencing (CLAIM's expected generation and FORCE, standard writes refused
# on a claimed disk until it is released), staging charged by pages and
# given back after a failed allocation, a burst of random CDBs, and
# removal with I/O in flight.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/peer-lib.bash"

dm_require_vm
dm_require_cmd sg_raw sg_inq sg_vpd sg_readcap sg_turs
ktap_print_header
ktap_set_plan 135

PARAMS=/sys/module/dualmirror_peer/parameters
dm_dmesg_mark
dm_load_module dualmirror_peer || ktap_skip_all "cannot load dualmirror_peer"
old_staging=$(cat $PARAMS/staging_kib)
old_timeout=$(cat $PARAMS/split_timeout_ms)
dm_on_exit "echo $old_staging >$PARAMS/staging_kib; echo $old_timeout >$PARAMS/split_timeout_ms; echo 0 >$PARAMS/fault_staging_alloc"
dm_on_exit peer_cleanup_tmp
echo 256 >$PARAMS/staging_kib
# The module reads split_timeout_ms when a disk is added.  Every disk but
# one waits 60 s for the other half of a split write: what a point stages
# or parks must still be there when the test's next command comes, however
# slowly a busy host runs this guest (with 3 s the halves expired first at
# host load 10).  Only the expiry points ("data_missing", "staged data
# without a DESC expires") run on a disk of their own added with 3 s.
echo 60000 >$PARAMS/split_timeout_ms

back=$(dm_nullb_create dmp20a 16) || ktap_skip_all "cannot create a null_blk disk"
dm_on_exit dm_nullb_remove dmp20a
back4k=$(dm_nullb_create dmp20b 16 blocksize=4096 cache_size=4) || ktap_skip_all "no 4K null_blk"
dm_on_exit dm_nullb_remove dmp20b
backx=$(dm_nullb_create dmp20d 4) || ktap_skip_all "cannot create a null_blk disk"
dm_on_exit dm_nullb_remove dmp20d

# ---- dualmirrorctl peer add / status ----------------------------------------
disk=$("$DMCTL" peer add "$back" 2>&1)
assert_match "peer add prints the new SCSI disk" '^/dev/sd[a-z]+$' "$disk" ||
	ktap_skip_all "no peer disk: $disk"
dm_on_exit "\"$DMCTL\" peer remove $disk"
host=$(peer_host_of "$disk")
assert_true "$disk is a block device" test -b "$disk"
out=$("$DMCTL" peer add "$back" 2>&1)
rc=$?
assert_match "adding the same backing device again is refused (exit 1)" \
	'^1 .*(in use|already)' "$rc $out"
disk4k=$("$DMCTL" peer add "$back4k" 2>&1)
assert_match "a second peer disk at once (4 KiB blocks)" '^/dev/sd[a-z]+$' "$disk4k"
dm_on_exit "\"$DMCTL\" peer remove $disk4k"
host4k=$(peer_host_of "$disk4k")
assert_match "peer status lists both disks" "$host: $disk backing $back.*$host4k: $disk4k backing $back4k" \
	"$("$DMCTL" peer status | tr '\n' ' ')"
out=$( { echo "$back" >/sys/devices/dualmirror_peer/add; } 2>&1)
assert_match "the kernel refuses a backing device in use: EBUSY" 'busy' "$out"
out=$("$DMCTL" peer add 2>&1)
rc=$?
assert_eq "peer add without an argument: usage error (exit 2)" 2 "$rc"
out=$("$DMCTL" peer remove /dev/null 2>&1)
rc=$?
assert_match "peer remove of a non-peer disk fails clearly" '^1 .*no such SCSI disk' "$rc $out"

ktap_print_msg "at ${SECONDS}s: standard commands"
# ---- standard commands ------------------------------------------------------
assert_match "sg_inq: vendor and product" 'LINUX.*DualMirror Peer' "$(sg_inq "$disk" 2>&1 | tr '\n' ' ')"
assert_match "sg_vpd: supported pages 00 80 83 b0" 'Unit serial number.*Device identification.*Block limits' "$(sg_vpd -p 0 "$disk" 2>&1 | tr '\n' ' ')"
assert_match "sg_vpd: serial number" 'Unit serial number: DMP[0-9a-f]{16}' "$(sg_vpd -p sn "$disk" 2>&1 | tr '\n' ' ')"
assert_match "sg_vpd: NAA designator" 'designator type: NAA' "$(sg_vpd -p di "$disk" 2>&1 | tr '\n' ' ')"
SERIAL=$(sg_vpd -p sn "$disk" 2>&1 | sed -n 's/.*Unit serial number: //p')
assert_false "two backing devices, two serial numbers" \
	test "$SERIAL" = "$(sg_vpd -p sn "$disk4k" 2>&1 | sed -n 's/.*Unit serial number: //p')"
assert_match "sg_vpd: block limits, 4096 blocks max" 'Maximum transfer length: 4096 blocks' \
	"$(sg_vpd -p bl "$disk" 2>&1 | tr '\n' ' ')"
assert_match "sg_readcap -l: capacity and block size of the backing device" \
	'Last LBA=32767 .*Logical block length=512' "$(sg_readcap -l "$disk" 2>&1 | tr '\n' ' ')"
assert_match "sg_readcap on the 4 KiB disk" 'Last LBA=4095 .*Logical block length=4096' \
	"$(sg_readcap -l "$disk4k" 2>&1 | tr '\n' ' ')"
assert_true "sg_turs" sg_turs "$disk"
cache_type() { # the sd driver's view of MODE SENSE's caching page
	cat /sys/block/"${1#/dev/}"/device/scsi_disk/*/cache_type
}
assert_eq "MODE SENSE: WCE off for a backing device without a write cache" \
	"write through" "$(cache_type "$disk")"
assert_eq "MODE SENSE: WCE on for a backing device with a write cache" \
	"write back" "$(cache_type "$disk4k")"
peer_send_expect "unknown opcode C1h: INVALID COMMAND OPERATION CODE" "05/20/00" "$disk" \
	"c1 00 00 00 00 00 00 00 00 00"
peer_send_expect "READ(10) beyond capacity: LBA OUT OF RANGE" "05/21/00" "$disk" \
	"28 00 00 01 00 00 00 00 01 00" -r 512

ref=$PEER_TMP/ref
peer_random "$PEER_TMP/dd" 65536
dd if="$PEER_TMP/dd" of="$disk" bs=4k seek=16 oflag=direct status=none
assert_true "dd write through the peer disk reaches the backing device" \
	cmp -s "$PEER_TMP/dd" <(peer_read "$back" 128 128)
assert_true "dd read through the peer disk" \
	cmp -s "$PEER_TMP/dd" <(dd if="$disk" bs=4k skip=16 count=16 iflag=direct status=none)
peer_image "$back" "$ref"

ktap_print_msg "at ${SECONDS}s: mirror writes"
# ---- mirror writes ----------------------------------------------------------
peer_reset_stats "$host"
peer_random "$PEER_TMP/w1" 4096
peer_send_expect "INLINE write, 8 sectors at LBA 0x7123: GOOD" good "$disk" \
	"$(dmw inline 0 1 0x7123 8)" -s 4096 -i "$PEER_TMP/w1"
peer_ref_apply "$ref" $((0x7123)) "$PEER_TMP/w1"
peer_random "$PEER_TMP/w2" 32768
peer_send_expect "INLINE write, 32 KiB at LBA 1000, FUA|PREFLUSH: GOOD" good "$disk" \
	"$(dmw inline 0 2 1000 64 3)" -s 32768 -i "$PEER_TMP/w2"
peer_ref_apply "$ref" 1000 "$PEER_TMP/w2"
assert_true "inline writes landed exactly, nothing else changed" peer_same "$back" "$ref"

peer_random "$PEER_TMP/s1" 65536
peer_split "$disk" "$host" data-first "$PEER_TMP/s1" 20000 0x10203 0
assert_eq "split DATA (64 KiB) first: staged, GOOD" good "$DATA_SENSE"
assert_eq "split DESC second: written, GOOD" good "$DESC_SENSE"
peer_ref_apply "$ref" 20000 "$PEER_TMP/s1"
peer_random "$PEER_TMP/s2" 36864
peer_split "$disk" "$host" desc-first "$PEER_TMP/s2" 30001 0xabcdef 0 1
assert_eq "split DESC first (parked): GOOD once its DATA came" good "$DESC_SENSE"
assert_eq "split DATA second: GOOD" good "$DATA_SENSE"
peer_ref_apply "$ref" 30001 "$PEER_TMP/s2"
assert_true "split writes landed exactly, nothing else changed" peer_same "$back" "$ref"
assert_eq "counters moved by exactly the events sent" \
	"inline_commands=2 inline_data_transfers=2 inline_interrupts=4 inline_writes=2 inline_bytes_written=36864 split_commands=4 split_data_transfers=4 split_interrupts=8 split_writes=2 split_bytes_written=102400 split_staged=2 split_desc_parked=1 total_commands=6 total_writes=4 total_bytes_written=139264 total_rejected=0" \
	"$(peer_stats "$host" inline_commands inline_data_transfers inline_interrupts inline_writes inline_bytes_written split_commands split_data_transfers split_interrupts split_writes split_bytes_written split_staged split_desc_parked total_commands total_writes total_bytes_written total_rejected)"
peer_sg "$disk" "$(dmw query 32)" -r 32
state=$("$DM_PYTHON" "$DMW_MSG" state $(printf '%s\n' "$SG_OUT" | awk '/^ [0-9a-f]+  /{for(i=2;i<=17;i++) printf "%s ", $i}'))
assert_match "QUERY returns the state" 'generation=0 capacity=32768 max_split=4096 staging_kib=256' "$state"
echo 0 >"/sys/class/scsi_host/$host/dualmirror_stats/inline_commands"
assert_eq "writing 0 to a counter clears it" 0 "$(peer_stat "$host" inline_commands)"

ktap_print_msg "at ${SECONDS}s: refusals"
# ---- refusals: each reason, its sense, nothing written ----------------------
peer_reset_stats "$host"
i512=$PEER_TMP/w1
head -c 512 "$i512" >"$PEER_TMP/one"
one=$PEER_TMP/one
base=$(dmw inline 0 5 100 1)
mod() { # mod HEXCDB INDEX HEXBYTE: replace one CDB byte
	local -a b
	read -r -a b <<<"$1"
	b[$2]=$3
	echo "${b[*]}"
}
peer_send_expect "cdb_length: ADDITIONAL CDB LENGTH 10h" "05/24/00 sks=c0 field=7" "$disk" \
	"$(mod "$base" 7 10)" -s 512 -i "$one"
peer_send_expect "service_action: not vendor specific" "05/24/00 sks=c0 field=8" "$disk" \
	"$(mod "$base" 8 01)" -s 512 -i "$one"
peer_send_expect "service_action: unknown type 15" "05/24/00 sks=cf field=9" "$disk" \
	"$(mod "$base" 9 f0)" -s 512 -i "$one"
peer_send_expect "version: 2" "05/24/00 sks=ca field=8" "$disk" \
	"$(mod "$base" 8 fa)" -s 512 -i "$one"
peer_sense_bytes
# the bytes of selftests/host/wire_test.c's oracle (sense_oracle.h)
assert_eq "version: 2: the 18 sense bytes exactly (fixed format, ADDITIONAL SENSE LENGTH 0a)" \
	"70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 ca 00 08" "${PEER_SENSE[*]}"
peer_send_expect "reserved: CONTROL byte" "05/24/00 sks=ca field=1" "$disk" \
	"$(mod "$base" 1 04)" -s 512 -i "$one"
peer_send_expect "reserved: INLINE flag bit 2" "05/24/00 sks=ca field=9" "$disk" \
	"$(mod "$base" 9 14)" -s 512 -i "$one"
peer_send_expect "reserved: SPLIT DATA byte 10" "05/24/00 sks=cf field=10" "$disk" \
	"$(mod "$(dmw data 0 6 1)" 10 80)" -s 512 -i "$one"
peer_send_expect "length: SPLIT DATA of 0 sectors" "05/24/00 sks=c0 field=12" "$disk" \
	"$(dmw data 0 7 0)"
peer_send_expect "length: SPLIT DESC shorter than a header" "05/24/00 sks=c0 field=12" "$disk" \
	"$(dmw desc 0 7 39)" -s 39 -i "$one"
peer_send_expect "lba_range: INLINE past the end" "05/21/00" "$disk" \
	"$(dmw inline 0 8 32768 1)" -s 512 -i "$one"
peer_sense_bytes
assert_eq "lba_range: the 18 sense bytes exactly (no field pointer)" \
	"70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 00 00 00" "${PEER_SENSE[*]}"
peer_send_expect "lba_range: INLINE overlapping the end" "05/21/00" "$disk" \
	"$(dmw inline 0 8 32767 2)" -s 1024 -i "$PEER_TMP/w1"
peer_send_expect "transfer_length: INLINE of 8 sectors with 512 bytes" "05/24/00 sks=c0 field=10" "$disk" \
	"$(dmw inline 0 9 100 8)" -s 512 -i "$one"
peer_send_expect "transfer_length: INLINE as data-in" "05/24/00 sks=c0 field=10" "$disk" \
	"$(dmw inline 0 9 100 1)" -r 512
peer_send_expect "alignment: 4 KiB disk, LBA not a block" "05/24/00 sks=c0 field=11" "$disk4k" \
	"$(dmw inline 0 10 1 8)" -s 4096 -i "$PEER_TMP/w1"
peer_send_expect "alignment: 4 KiB disk, length not a block" "05/24/00 sks=c0 field=10" "$disk4k" \
	"$(dmw inline 0 10 8 1)" -s 512 -i "$one"
peer_random "$PEER_TMP/s3" 8192
# all the descriptors of this section and the next in one python3 start
"$DM_PYTHON" "$DMW_MSG" descs "$PEER_TMP/d3" "$PEER_TMP/s3" 300 0x300 0 0 \
	"$PEER_TMP/d6" "$PEER_TMP/s3" 300 0x600 0 0 \
	"$PEER_TMP/d7" "$PEER_TMP/s3" 300 0x700 0 0 \
	"$PEER_TMP/d9" "$PEER_TMP/s3" 300 0x800 1 0 \
	"$PEER_TMP/d10" "$PEER_TMP/s3" 300 0x801 4 0 \
	"$PEER_TMP/d11" "$PEER_TMP/s3" 304 0x900 0 0 >/dev/null
dlen=$(stat -c %s "$PEER_TMP/d3")
head -c 44 "$PEER_TMP/d3" >"$PEER_TMP/d3short"
peer_send_expect "descriptor_length: truncated descriptor" "05/1a/00" "$disk" \
	"$(dmw desc 0 0x300 44)" -s 44 -i "$PEER_TMP/d3short"
cp "$PEER_TMP/d3" "$PEER_TMP/d3magic"
printf 'X' | dd of="$PEER_TMP/d3magic" bs=1 seek=0 conv=notrunc status=none
peer_send_expect "descriptor_field: bad magic" "05/26/00 sks=80 field=0" "$disk" \
	"$(dmw desc 0 0x300 "$dlen")" -s "$dlen" -i "$PEER_TMP/d3magic"
peer_send_expect "descriptor_field: sequence disagrees with the CDB" "05/26/00 sks=80 field=24" "$disk" \
	"$(dmw desc 0 0x301 "$dlen")" -s "$dlen" -i "$PEER_TMP/d3"
peer_send_expect "split DATA for the CRC case: staged" good "$disk" \
	"$(dmw data 0 0x300 16)" -s 8192 -i "$PEER_TMP/s3"
cp "$PEER_TMP/d3" "$PEER_TMP/d3crc"
printf '\xff' | dd of="$PEER_TMP/d3crc" bs=1 seek=44 conv=notrunc status=none
peer_send_expect "crc: second chunk's CRC32C wrong" "0b/10/01 sks=80 field=44" "$disk" \
	"$(dmw desc 0 0x300 "$dlen")" -s "$dlen" -i "$PEER_TMP/d3crc"
assert_match "the data that failed its CRC is dropped" '^staged 0 parked 0$' \
	"$(cat "/sys/class/scsi_host/$host/dualmirror/waiting")"
# Nothing is staged here (just checked): a failed allocation must give
# its charge back to exactly 0.
echo 1 >$PARAMS/fault_staging_alloc
peer_send_expect "resources: a SPLIT DATA whose page allocation fails" "05/55/03" "$disk" \
	"$(dmw data 0 0x480 16)" -s 8192 -i "$PEER_TMP/s3"
assert_eq "staged_bytes back to 0 after the failed allocation, not below" \
	"staged_bytes=0 staged 0 parked 0" \
	"staged_bytes=$(cat "/sys/class/scsi_host/$host/dualmirror/staged_bytes") $(cat "/sys/class/scsi_host/$host/dualmirror/waiting")"
peer_send_expect "sequence: first SPLIT DATA with tag 0x400" good "$disk" \
	"$(dmw data 0 0x400 1)" -s 512 -i "$one"
assert_eq "a 1-sector SPLIT DATA is charged the whole page it pins" 4096 \
	"$(cat "/sys/class/scsi_host/$host/dualmirror/staged_bytes")"
peer_send_expect "sequence: second SPLIT DATA with the same tag" "05/2c/00" "$disk" \
	"$(dmw data 0 0x400 1)" -s 512 -i "$one"
peer_random "$PEER_TMP/big" 196608
peer_send_expect "resources: 192 KiB staged" good "$disk" \
	"$(dmw data 0 0x500 384)" -s 196608 -i "$PEER_TMP/big"
peer_send_expect "resources: 128 KiB more exceed staging (256 KiB)" "05/55/03" "$disk" \
	"$(dmw data 0 0x501 256)" -s 131072 -i "$PEER_TMP/big"
# The expiry points, on a disk of their own whose split halves wait 3 s
# (the only short timer of this test); 0x400 and 0x500 stay staged on
# $disk until the CLAIM below drops them.
echo 3000 >$PARAMS/split_timeout_ms
diskx=$("$DMCTL" peer add "$backx" 2>&1)
echo 60000 >$PARAMS/split_timeout_ms
assert_match "a third peer disk, for the expiry points" '^/dev/sd[a-z]+$' "$diskx"
dm_on_exit "\"$DMCTL\" peer remove $diskx"
hostx=$(peer_host_of "$diskx")
assert_eq "split_timeout_ms: 3000 on the expiry disk, 60000 on the others" \
	"3000 60000 60000" \
	"$(paste -d ' ' /sys/class/scsi_host/{"$hostx","$host","$host4k"}/dualmirror/split_timeout_ms)"
peer_sg "$diskx" "$(dmw data 0 0x400 1)" -s 512 -i "$one"
r=$(peer_sense)
peer_sg "$diskx" "$(dmw data 0 0x500 384)" -s 196608 -i "$PEER_TMP/big"
assert_eq "expiry disk: two SPLIT DATA (1 sector, 192 KiB) staged" "good good" "$r $(peer_sense)"
# Timed from before the DESC is sent (its timer cannot start earlier)
# and from when it is seen parked (its timer has started): the start of
# sg_raw, slow in a starved guest, is in neither bound.
start=$SECONDS
(
	peer_sg "$diskx" "$(dmw desc 0 0x600 "$dlen")" -s "$dlen" -i "$PEER_TMP/d6"
	peer_sense >"$PEER_TMP/d6.sense"
) &
sgpid=$!
d6_parked() { peer_parked "$hostx" || ! kill -0 $sgpid 2>/dev/null; }
dm_wait_for 60 d6_parked
parked_at=$SECONDS
wait $sgpid
assert_eq "data_missing: a DESC whose DATA never comes" "0b/0c/00" "$(cat "$PEER_TMP/d6.sense")"
assert_true "data_missing: after split_timeout_ms (3 s), not before ($((SECONDS - start)) s from the send, $((SECONDS - parked_at)) s from parked)" \
	test $((SECONDS - start)) -ge 2 -a $((SECONDS - parked_at)) -le 9
sleep 3.2
assert_match "staged data without a DESC expires" '^staged 0 parked 0$' \
	"$(cat "/sys/class/scsi_host/$hostx/dualmirror/waiting")"
assert_eq "expiry disk: counted as expired, not dropped; nothing written" \
	"staged_bytes=0 rejected_data_missing=1 split_staged=2 split_staged_expired=2 split_staged_dropped=0 total_writes=0" \
	"staged_bytes=$(cat "/sys/class/scsi_host/$hostx/dualmirror/staged_bytes") $(peer_stats "$hostx" rejected_data_missing split_staged split_staged_expired split_staged_dropped total_writes)"
"$DMCTL" peer remove "$diskx"
peer_send_expect "a SPLIT DATA staged before CLAIM" good "$disk" \
	"$(dmw data 0 0x700 16)" -s 8192 -i "$PEER_TMP/s3"
peer_sg "$disk" "$(dmw claim 32)" -r 32
assert_eq "CLAIM: GOOD" good "$(peer_sense)"
assert_eq "CLAIM advanced the generation" 1 "$(cat "/sys/class/scsi_host/$host/dualmirror/generation")"
peer_send_expect "generation: INLINE with the old generation tag" "07/27/00" "$disk" \
	"$(dmw inline 0 11 100 1)" -s 512 -i "$one"
peer_send_expect "generation: the DESC of data staged before CLAIM" "07/27/00" "$disk" \
	"$(dmw desc 0 0x700 "$dlen")" -s "$dlen" -i "$PEER_TMP/d7"
peer_send_expect "generation: DESC tagged 1 but carrying generation 0" "07/27/00" "$disk" \
	"$(dmw desc 1 0x700 "$dlen")" -s "$dlen" -i "$PEER_TMP/d7"
# data_missing was counted on the expiry disk (above); the CLAIM dropped
# the three halves staged here (0x400, 0x500, 0x700), none expired
assert_eq "refusals counted by reason" \
	"rejected_cdb_length=1 rejected_service_action=2 rejected_version=1 rejected_reserved=3 rejected_length=2 rejected_lba_range=2 rejected_transfer_length=2 rejected_descriptor_length=1 rejected_descriptor_field=2 rejected_crc=1 rejected_sequence=1 rejected_resources=2 rejected_data_missing=0 rejected_generation=3 claims=1 split_staged_dropped=3 split_staged_expired=0 total_writes=0" \
	"$(peer_stats "$host" rejected_cdb_length rejected_service_action rejected_version rejected_reserved rejected_length rejected_lba_range rejected_transfer_length rejected_descriptor_length rejected_descriptor_field rejected_crc rejected_sequence rejected_resources rejected_data_missing rejected_generation claims split_staged_dropped split_staged_expired total_writes)"
assert_true "no refused message wrote anything" peer_same "$back" "$ref"
peer_random "$PEER_TMP/w3" 1024
peer_send_expect "INLINE with the new generation: GOOD" good "$disk" \
	"$(dmw inline 1 12 7 2)" -s 1024 -i "$PEER_TMP/w3"
peer_ref_apply "$ref" 7 "$PEER_TMP/w3"
assert_true "... and it landed" peer_same "$back" "$ref"

ktap_print_msg "at ${SECONDS}s: fencing"
# ---- fencing: CLAIM's expected generation, standard writes -------------------
info() { # a file of the disk's dualmirror/ directory
	local v
	read -r v <"/sys/class/scsi_host/$host/dualmirror/$1"
	echo "$v"
}
std_writes() { # the sense of each medium-modifying standard command
	local out=
	peer_sg "$disk" "2a 00 00 00 00 40 00 00 01 00" -s 512 -i "$one"
	out+="WRITE(10)=$(peer_sense) "
	peer_sg "$disk" "0a 00 00 40 01 00" -s 512 -i "$one"
	out+="WRITE(6)=$(peer_sense) "
	peer_sg "$disk" "8a 00 00 00 00 00 00 00 00 40 00 00 00 01 00 00" -s 512 -i "$one"
	out+="WRITE(16)=$(peer_sense) "
	peer_sg "$disk" "93 00 00 00 00 00 00 00 00 40 00 00 00 01 00 00" -s 512 -i "$one"
	out+="WRITE_SAME(16)=$(peer_sense) "
	peer_sg "$disk" "42 00 00 00 00 00 00 02 00 00" -s 512 -i "$one"
	out+="UNMAP=$(peer_sense) "
	peer_sg "$disk" "2e 00 00 00 00 40 00 00 01 00" -s 512 -i "$one"
	out+="WRITE_AND_VERIFY(10)=$(peer_sense) "
	peer_sg "$disk" "89 00 00 00 00 00 00 00 00 40 00 00 00 01 00 00" -s 1024 -i "$PEER_TMP/w3"
	out+="COMPARE_AND_WRITE=$(peer_sense) "
	peer_sg "$disk" "04 00 00 00 00 00"
	out+="FORMAT_UNIT=$(peer_sense)"
	echo "$out"
}
peer_reset_stats "$host"
assert_eq "a claimed disk is fenced" claimed "$(info fence)"
w=07/27/00
assert_eq "standard writes on a claimed disk: DATA PROTECT / WRITE PROTECTED" \
	"WRITE(10)=$w WRITE(6)=$w WRITE(16)=$w WRITE_SAME(16)=$w UNMAP=$w WRITE_AND_VERIFY(10)=$w COMPARE_AND_WRITE=$w FORMAT_UNIT=$w" \
	"$(std_writes)"
peer_send_expect "READ(10) on a claimed disk: GOOD" good "$disk" \
	"28 00 00 00 00 40 00 00 01 00" -r 512
assert_true "the fenced writes wrote nothing" peer_same "$back" "$ref"
assert_eq "fenced writes counted" "scsi_fenced=8 scsi_rejected=8 scsi_bytes_written=0" \
	"$(peer_stats "$host" scsi_fenced scsi_rejected scsi_bytes_written)"
peer_send_expect "a 1-sector SPLIT DATA (generation 1): staged" good "$disk" \
	"$(dmw data 1 0xa00 1)" -s 512 -i "$one"
peer_sg "$disk" "$(dmw claim 32 5)" -r 32
assert_eq "CLAIM with a wrong generation tag (5, generation 1): DATA PROTECT / WRITE PROTECTED" \
	"07/27/00" "$(peer_sense)"
assert_eq "the refused CLAIM changed nothing and was counted" \
	"generation=1 fence=claimed staged_bytes=4096 staged 1 parked 0 claims=0 rejected_generation=1 control_rejected=1" \
	"generation=$(info generation) fence=$(info fence) staged_bytes=$(info staged_bytes) $(info waiting) $(peer_stats "$host" claims rejected_generation control_rejected)"
peer_sg "$disk" "$(dmw claim 32 1)" -r 32
assert_eq "CLAIM with the right tag (1): GOOD" good "$(peer_sense)"
assert_eq "it advanced the generation and dropped the staged data" \
	"generation=2 staged_bytes=0 staged 0 parked 0 claims=1 split_staged_dropped=1" \
	"generation=$(info generation) staged_bytes=$(info staged_bytes) $(info waiting) $(peer_stats "$host" claims split_staged_dropped)"
peer_sg "$disk" "$(dmw claim 32 0x77 1)" -r 32
assert_eq "CLAIM with a wrong tag and FORCE: GOOD" good "$(peer_sense)"
assert_eq "FORCE advanced the generation and was counted" \
	"generation=3 claims=2 claims_forced=1 rejected_generation=1" \
	"generation=$(info generation) $(peer_stats "$host" claims claims_forced rejected_generation)"
echo 1 >"/sys/class/scsi_host/$host/dualmirror/release"
assert_eq "release: the disk is released, counted" "released releases=1" \
	"$(info fence) $(peer_stats "$host" releases)"
peer_send_expect "WRITE(10) on a released disk: GOOD" good "$disk" \
	"2a 00 00 00 00 40 00 00 01 00" -s 512 -i "$one"
peer_ref_apply "$ref" $((0x40)) "$one"
assert_true "... and it landed" peer_same "$back" "$ref"
peer_sg "$disk" "$(dmw claim 32 3)" -r 32
r=$(peer_sense)
peer_sg "$disk" "2a 00 00 00 00 40 00 00 01 00" -s 512 -i "$one"
assert_eq "the next CLAIM (tag 3) fences standard writes again" \
	"good 07/27/00 claimed generation=4" "$r $(peer_sense) $(info fence) generation=$(info generation)"
echo 1 >"/sys/class/scsi_host/$host/dualmirror/release"

ktap_print_msg "at ${SECONDS}s: a burst"
# ---- a burst of random CDBs -------------------------------------------------
burst() {
	local n op len b cdb size h
	for ((n = 0; n < 60; n++)); do
		case $((RANDOM % 3)) in
		0) op=$((0x80 + RANDOM % 32)) len=16 ;;
		1) op=$((0x7f)) len=16 ;;
		*) op=$((0xc0 + RANDOM % 64)) len=$((RANDOM % 2 ? 10 : 16)) ;;
		esac
		printf -v cdb '%02x' "$op"
		for ((b = 1; b < len; b++)); do
			printf -v h ' %02x' $((RANDOM % 256))
			cdb+=$h
		done
		size=$(((RANDOM % 9) * 512))
		case $((RANDOM % 3)) in
		0) timeout 30 sg_raw -C 1 -t 10 "$disk" $cdb >/dev/null 2>&1 ;;
		1) timeout 30 sg_raw -C 1 -t 10 -r $((size + 512)) "$disk" $cdb >/dev/null 2>&1 ;;
		*) timeout 30 sg_raw -C 1 -t 10 -s "$size" -i "$PEER_TMP/big" "$disk" $cdb >/dev/null 2>&1 ;;
		esac
		[ $? -lt 100 ] || return 1
	done
}
assert_true "60 random CDBs (7Fh, 80h-9Fh, C0h-FFh) with random payloads" burst
assert_true "the disk still answers TEST UNIT READY" sg_turs "$disk"
assert_true "the disk still reads" dd if="$disk" of=/dev/null bs=64k count=16 iflag=direct status=none

if command -v fio >/dev/null; then
	assert_true "fio: 4 KiB-2 MiB random writes at depth 16, verified" \
		fio --name=peer --filename="$disk" --rw=randwrite --bsrange=4k-2m \
		--ioengine=libaio --iodepth=16 --direct=1 --size=12m --offset=2m \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --output=/dev/null
else
	ktap_test_skip "fio: random writes at depth 16, verified" "fio is not installed"
fi

ktap_print_msg "at ${SECONDS}s: direct path"
# ---- the direct path: REQ_NOWAIT from queuecommand ---------------------------
# INLINE writes and READ/WRITE run in queuecommand when the backing device
# takes a REQ_NOWAIT bio without sleeping: a SCSI disk does (scsi_debug),
# a memory-backed null_blk does not (it is BLK_MQ_F_BLOCKING: its
# queue_rq allocates pages).  A submission that would have to wait
# (BLK_STS_AGAIN: no free request on a disk of queue depth 1 with 1 ms
# completions) is submitted again by the worker; nowait=0 sends every
# command to the worker.
old_nowait=$(cat $PARAMS/nowait)
dm_on_exit "echo $old_nowait >$PARAMS/nowait"
echo 1 >$PARAMS/nowait
peer_reset_stats "$host"
dd if="$disk" of=/dev/null bs=4k count=4 iflag=direct status=none
assert_eq "a memory-backed null_blk (BLK_MQ_F_BLOCKING): reads go through the worker" \
	"direct_commands=0" "$(peer_stats "$host" direct_commands)"
nwback=$(dm_scsi_debug_load dev_size_mb=16 max_queue=1 ndelay=1000000) &&
	nwdisk=$("$DMCTL" peer add "$nwback" 2>&1)
dm_on_exit dm_unload_module scsi_debug
if [ -b "${nwdisk:-}" ]; then
	dm_on_exit "\"$DMCTL\" peer remove $nwdisk"
	nwhost=$(peer_host_of "$nwdisk")
	nwref=$PEER_TMP/nwref
	peer_image "$nwback" "$nwref"
	peer_reset_stats "$nwhost"
	peer_sg "$nwdisk" "$(dmw inline 0 1 0x300 8)" -s 4096 -i "$PEER_TMP/w1"
	s1=$(peer_sense)
	peer_sg "$nwdisk" "$(dmw inline 0 2 0x1000 64 3)" -s 32768 -i "$PEER_TMP/w2"
	peer_ref_apply "$nwref" $((0x300)) "$PEER_TMP/w1"
	peer_ref_apply "$nwref" $((0x1000)) "$PEER_TMP/w2"
	assert_eq "direct path (scsi_debug backing): two INLINE writes (4 KiB, 32 KiB FUA|PREFLUSH) GOOD, run in queuecommand, no retry" \
		"good good direct_commands=2 direct_retries=0 inline_writes=2" \
		"$s1 $(peer_sense) $(peer_stats "$nwhost" direct_commands direct_retries inline_writes)"
	assert_true "direct path: the writes landed exactly, nothing else changed" peer_same "$nwback" "$nwref"
	echo 0 >$PARAMS/nowait
	peer_sg "$nwdisk" "$(dmw inline 0 3 0x2000 8)" -s 4096 -i "$PEER_TMP/w1"
	echo 1 >$PARAMS/nowait
	peer_ref_apply "$nwref" $((0x2000)) "$PEER_TMP/w1"
	assert_eq "nowait=0: the INLINE write GOOD, through the worker" \
		"good direct_commands=2 inline_writes=3" \
		"$(peer_sense) $(peer_stats "$nwhost" direct_commands inline_writes)"
	assert_true "nowait=0: it landed exactly" peer_same "$nwback" "$nwref"
	# Split writes on the direct path: DATA then DESC; DESC first (parked
	# from queuecommand, written from its DATA's queuecommand); a pair
	# larger than one bio of the backing disk (max_sectors_kb 4), written
	# from queuecommand in two; and a pair whose bio finds the disk's only
	# request taken, which the worker writes.  sg_raw's pages are the sg
	# driver's, so the data is staged by copy.
	for i in 1 2 3 4; do
		peer_random "$PEER_TMP/ns$i" 8192
	done
	"$DM_PYTHON" "$DMW_MSG" descs "$PEER_TMP/nd1" "$PEER_TMP/ns1" $((0x3000)) 0xa01 0 0 \
		"$PEER_TMP/nd2" "$PEER_TMP/ns2" $((0x3100)) 0xa02 0 0 \
		"$PEER_TMP/nd3" "$PEER_TMP/ns3" $((0x3200)) 0xa03 0 0 \
		"$PEER_TMP/nd4" "$PEER_TMP/ns4" $((0x3400)) 0xa04 0 0 >/dev/null
	nwpair() { # N: SPLIT DATA then SPLIT DESC of pair N; their senses
		local s
		peer_sg "$nwdisk" "$(dmw data 0 "0xa0$1" 16)" -s 8192 -i "$PEER_TMP/ns$1"
		s=$(peer_sense)
		peer_sg "$nwdisk" "$(dmw desc 0 "0xa0$1" "$dlen")" -s "$dlen" -i "$PEER_TMP/nd$1"
		echo "$s $(peer_sense)"
	}
	peer_reset_stats "$nwhost"
	s1=$(nwpair 1)
	peer_ref_apply "$nwref" $((0x3000)) "$PEER_TMP/ns1"
	assert_eq "direct path: SPLIT DATA then SPLIT DESC GOOD, both run in queuecommand, no retry" \
		"good good direct_commands=2 direct_retries=0 split_writes=1 split_desc_parked=0" \
		"$s1 $(peer_stats "$nwhost" direct_commands direct_retries split_writes split_desc_parked)"
	assert_true "direct path: the split write landed exactly" peer_same "$nwback" "$nwref"
	peer_reset_stats "$nwhost"
	# shellcheck disable=SC2046
	sg_raw -C 1 -s "$dlen" -i "$PEER_TMP/nd2" "$nwdisk" $(dmw desc 0 0xa02 "$dlen") >/dev/null 2>&1 &
	sgpid=$!
	dm_wait_for 60 peer_parked "$nwhost"
	peer_sg "$nwdisk" "$(dmw data 0 0xa02 16)" -s 8192 -i "$PEER_TMP/ns2"
	s1=$(peer_sense)
	wait $sgpid
	s2=$?
	peer_ref_apply "$nwref" $((0x3100)) "$PEER_TMP/ns2"
	assert_eq "direct path: SPLIT DESC parked, its DATA writes the pair from queuecommand; both GOOD" \
		"good desc_status=0 direct_commands=2 direct_retries=0 split_writes=1 split_desc_parked=1" \
		"$s1 desc_status=$s2 $(peer_stats "$nwhost" direct_commands direct_retries split_writes split_desc_parked)"
	assert_true "direct path: the parked split write landed exactly" peer_same "$nwback" "$nwref"
	nwq=/sys/block/${nwback#/dev/}/queue/max_sectors_kb
	read -r nwmax <"$nwq"
	echo 4 >"$nwq"
	peer_reset_stats "$nwhost"
	s1=$(nwpair 3)
	echo "$nwmax" >"$nwq"
	peer_ref_apply "$nwref" $((0x3200)) "$PEER_TMP/ns3"
	assert_eq "direct path: a split write larger than one bio of the backing disk goes out from queuecommand in two, GOOD, no retry" \
		"good good direct_commands=2 direct_retries=0 split_writes=1" \
		"$s1 $(peer_stats "$nwhost" direct_commands direct_retries split_writes)"
	assert_true "direct path: the split write in two bios landed exactly" peer_same "$nwback" "$nwref"
	# An INLINE write holds the disk's only request for 5 s (scsi_debug's
	# delay, 1250 jiffies at HZ 250; no I/O scheduler, whose own requests
	# would queue the bio instead): the pair's REQ_NOWAIT bio ends with
	# BLK_STS_AGAIN, and the worker writes it once the request is free.
	# The pair's DATA is staged before the hold (staging needs no disk)
	# and the DESC's CDB made, so inside the hold runs one sg_raw only,
	# not the three processes and two sg_raw starts of a pair, which a
	# guest starved of CPU cannot fit in it.
	sdbg=/sys/bus/pseudo/drivers/scsi_debug
	nwsched=/sys/block/${nwback#/dev/}/queue/scheduler
	nwold=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$nwsched")
	echo none >"$nwsched"
	read -r nwndelay <$sdbg/ndelay
	head -c 4096 "$PEER_TMP/ns1" >"$PEER_TMP/nsi"
	peer_reset_stats "$nwhost"
	peer_sg "$nwdisk" "$(dmw data 0 0xa04 16)" -s 8192 -i "$PEER_TMP/ns4"
	s1=$(peer_sense)
	nwdesc=$(dmw desc 0 0xa04 "$dlen")
	echo 1250 >$sdbg/delay
	# shellcheck disable=SC2046
	sg_raw -C 1 -s 4096 -i "$PEER_TMP/nsi" "$nwdisk" $(dmw inline 0 0xa10 $((0x3300)) 8) >/dev/null 2>&1 &
	sgpid=$!
	nwbusy() { # the backing disk has a write in flight
		local r w
		read -r r w <"/sys/block/${nwback#/dev/}/inflight" && [ "$w" -gt 0 ]
	}
	dm_wait_for 30 nwbusy
	peer_sg "$nwdisk" "$nwdesc" -s "$dlen" -i "$PEER_TMP/nd4"
	s1="$s1 $(peer_sense)"
	wait $sgpid
	s3=$?
	echo "$nwndelay" >$sdbg/ndelay
	echo "${nwold:-none}" >"$nwsched"
	peer_ref_apply "$nwref" $((0x3300)) "$PEER_TMP/nsi"
	peer_ref_apply "$nwref" $((0x3400)) "$PEER_TMP/ns4"
	assert_eq "direct path: a split write whose bio finds no free request goes to the worker once (direct_retries=1); all GOOD" \
		"good good inline_status=0 direct_commands=3 direct_retries=1 split_writes=1 inline_writes=1" \
		"$s1 inline_status=$s3 $(peer_stats "$nwhost" direct_commands direct_retries split_writes inline_writes)"
	assert_true "direct path: the worker's split write and the INLINE write landed exactly" peer_same "$nwback" "$nwref"
	assert_eq "direct path: nothing left staged or parked" "staged 0 parked 0" \
		"$(cat "/sys/class/scsi_host/$nwhost/dualmirror/waiting")"
	if command -v fio >/dev/null; then
		assert_true "direct path on a disk of queue depth 1: fio 4-64 KiB random writes at depth 16, verified" \
			fio --name=nowait --filename="$nwdisk" --rw=randwrite --bsrange=4k-64k \
			--ioengine=libaio --iodepth=16 --iodepth_batch_submit=1 --direct=1 \
			--size=4m --verify=crc32c --do_verify=1 --verify_fatal=1 --output=/dev/null
		retries=$(peer_stat "$nwhost" direct_retries)
		assert_true "REQ_NOWAIT submissions that found no request went to the worker (direct_retries=$retries)" \
			test "$retries" -gt 0
	else
		ktap_test_skip "direct path: fio at depth 16" "fio is not installed"
		ktap_test_skip "direct path: retries" "fio is not installed"
	fi
	"$DMCTL" peer remove "$nwdisk"
	dm_unload_module scsi_debug
else
	for i in $(seq 15); do
		ktap_test_skip "direct path ($i)" "no scsi_debug disk: ${nwdisk:-}"
	done
fi

ktap_print_msg "at ${SECONDS}s: error handler"
# ---- error handler -----------------------------------------------------------
# SG_IO timeouts are at least 7 s (BLK_MIN_SG_TIMEOUT): the abort cases use
# a disk whose split halves wait 60 s (as every disk but the expiry one)
# and whose writes take 10 s (dm-delay).
iotmo() { # the midlayer's count of timed-out commands of a disk, decimal
	local v
	read -r v <"/sys/block/${1#/dev/}/device/iotmo_cnt"
	echo $((v))
}
slowback=$(dm_nullb_create dmp20c 8) &&
	dmsetup create dmp20slow --table "0 16384 delay $slowback 0 0 $slowback 0 10000" &&
	dm_on_exit "dmsetup remove dmp20slow" &&
	slow=$("$DMCTL" peer add /dev/mapper/dmp20slow 2>&1)
dm_on_exit dm_nullb_remove dmp20c
if [ -b "${slow:-}" ]; then
	dm_on_exit "\"$DMCTL\" peer remove $slow"
	slowhost=$(peer_host_of "$slow")
	t0=$(iotmo "$slow") start=$SECONDS
	# shellcheck disable=SC2046
	sg_raw -C 1 -t 1 -s "$dlen" -i "$PEER_TMP/d3" "$slow" $(dmw desc 0 0x300 "$dlen") >/dev/null 2>&1
	rc=$?
	assert_eq "a parked DESC times out (7 s) before its data (60 s): aborted, taken back" \
		"failed timeouts=1 staged 0 parked 0 data_missing=0" \
		"$([ $rc != 0 ] && echo failed) timeouts=$(($(iotmo "$slow") - t0)) $(cat "/sys/class/scsi_host/$slowhost/dualmirror/waiting") data_missing=$(peer_stat "$slowhost" rejected_data_missing)"
	t0=$(iotmo "$slow") start=$SECONDS
	sg_raw -C 1 -t 1 -s 512 -i "$PEER_TMP/one" "$slow" 2a 00 00 00 00 10 00 00 01 00 >/dev/null 2>&1
	rc=$?
	elapsed=$((SECONDS - start))
	assert_eq "a WRITE whose bio takes 10 s times out at 7 s; the abort waits for the bio" \
		"failed timeouts=1 waited=yes" \
		"$([ $rc != 0 ] && echo failed) timeouts=$(($(iotmo "$slow") - t0)) waited=$([ $elapsed -ge 9 ] && echo yes || echo "no (${elapsed}s)")"
	assert_true "the slow disk still works" sg_turs "$slow"
	"$DMCTL" peer remove "$slow"
else
	ktap_test_skip "a parked DESC times out" "no dm-delay: ${slow:-}"
	ktap_test_skip "a WRITE whose bio takes 10 s" "no dm-delay"
	ktap_test_skip "the slow disk still works" "no dm-delay"
fi
# shellcheck disable=SC2046
sg_raw -C 1 -s "$dlen" -i "$PEER_TMP/d10" "$disk" $(dmw desc 4 0x801 "$dlen") >/dev/null 2>&1 &
sgpid=$!
# The DESC stays parked split_timeout_ms (60 s on this disk): the bound of
# the wait is only how long a busy host may take to start sg_raw.
dm_wait_for 60 peer_parked "$host"
assert_match "a DESC is parked" 'parked 1' "$(cat "/sys/class/scsi_host/$host/dualmirror/waiting")"
assert_true "device reset with a DESC parked" sg_reset -d "$disk"
wait $sgpid
assert_true "the parked DESC failed" test $? != 0
assert_true "the disk works after abort and reset" sg_turs "$disk"
peer_send_expect "and takes mirror writes" good "$disk" \
	"$(dmw inline 4 13 7 2)" -s 1024 -i "$PEER_TMP/w3"

ktap_print_msg "at ${SECONDS}s: removal"
# ---- removal with I/O in flight ----------------------------------------------
dd if=/dev/zero of="$disk4k" bs=64k count=100000 oflag=direct status=none 2>/dev/null &
ddpid=$!
# shellcheck disable=SC2046
sg_raw -C 1 -s "$dlen" -i "$PEER_TMP/d11" "$disk4k" $(dmw desc 0 0x900 "$dlen") >/dev/null 2>&1 &
sgpid=$!
dm_wait_for 60 peer_parked "$host4k"
assert_match "a DESC is parked on the disk being removed" 'parked 1' \
	"$(cat "/sys/class/scsi_host/$host4k/dualmirror/waiting")"
assert_true "peer remove while writes are in flight and a DESC is parked" \
	"$DMCTL" peer remove "$disk4k"
wait $ddpid $sgpid 2>/dev/null
assert_true "the writer saw the disk go away" test "$(dm_scsi_disks "$host4k")" = ""
assert_true "peer remove" "$DMCTL" peer remove "$disk"
assert_eq "no peer disk is left" "no peer disks" "$("$DMCTL" peer status)"
out=$("$DMCTL" peer add "$back" 2>&1)
assert_match "the backing device is free again after remove" '^/dev/sd[a-z]+$' "$out"
assert_eq "re-added, the same serial number (stable identity)" "$SERIAL" \
	"$(sg_vpd -p sn "$out" 2>&1 | sed -n 's/.*Unit serial number: //p')"
assert_true "module unload with a peer disk attached" dm_unload_module dualmirror_peer
out=$("$DMCTL" peer add "$back" 2>&1)
assert_match "peer add loads the module when it is not loaded" '^/dev/sd[a-z]+$' "$out"
"$DMCTL" peer remove "$out" >/dev/null 2>&1
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"

ktap_finished
