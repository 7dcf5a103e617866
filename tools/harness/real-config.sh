#!/usr/bin/env bash
# `make real-config-check`: Debian's own 7.3 amd64 config, adjusted for Rust
# and the project, must pass olddefconfig with every option the project needs
# still set. The adjusted config is left in $CACHE/build-real/.config, ready
# for `make ... bindeb-pkg` (see Documentation/rust/vhost_test_sample.rst
# and README.md, "Real hardware").
set -euo pipefail
. "$(dirname "$0")/env.sh"
RO=$CACHE/build-real
CFG=$DL/linux-config-7.3.amd64_none_amd64.xz

# Debian's linux-config-7.3 (trixie-backports), fetched like the source.
echo "real config: Debian linux-config-7.3 $("$REPO/tools/harness/fetch-deb.sh" "$DL" \
	linux-config-7.3 usr/src/linux-config-7.3/config.amd64_none_amd64.xz "$CFG")"
"$REPO/tools/harness/rvh.sh" prepare
mkdir -p "$RO"
xz -dc "$CFG" >"$RO/.config"
# Binder is Rust Binder (built in), so that the series' conversion of it is
# built; Debian has the C one as a module, and the two exclude each other.
# Modules are signed with the build's own key (the sample, too).
# Rust needs RANDSTRUCT off in 7.3. MODVERSIONS would need GENDWARFKSYMS (and
# its DWARF pass), BTF a pahole with --lang_exclude: both off keeps the build
# independent of them.
"$SRC/scripts/config" --file "$RO/.config" \
	-d MODVERSIONS -d RANDSTRUCT_FULL -d RANDSTRUCT_PERFORMANCE -e RANDSTRUCT_NONE \
	-d DEBUG_INFO_BTF -e RUST -e SAMPLES -e SAMPLES_RUST -m SAMPLE_RUST_VHOST_TEST \
	-e RCU_EXPERT -e FORCE_TASKS_RCU -e FORCE_TASKS_TRACE_RCU -e FORCE_TASKS_RUDE_RCU \
	-e EVENTFD -e MODULE_UNLOAD -e MODULE_SIG_ALL \
	-d ANDROID_BINDER_IPC -e ANDROID_BINDER_IPC_RUST --set-str SYSTEM_TRUSTED_KEYS "" \
	--set-str SYSTEM_REVOCATION_KEYS "" --set-str LOCALVERSION "-rvh"
make -s -C "$SRC" O="$RO" "${KTOOLS[@]}" olddefconfig
fail=0
for want in RUST=y MODVERSIONS=n RANDSTRUCT_NONE=y DEBUG_INFO_BTF=n MODULES=y \
	MODULE_UNLOAD=y EVENTFD=y VHOST_TASK=y VHOST=m TASKS_RCU=y TASKS_TRACE_RCU=y \
	TASKS_RUDE_RCU=y SAMPLE_RUST_VHOST_TEST=m MODULE_SIG_ALL=y ANDROID_BINDER_IPC=n \
	ANDROID_BINDER_IPC_RUST=y; do
	o=${want%=*} v=${want#*=}
	if [ "$v" = n ]; then
		grep -q "^CONFIG_$o=" "$RO/.config" && { echo "real config: CONFIG_$o is set"; fail=1; }
	else
		grep -q "^CONFIG_$o=$v\$" "$RO/.config" ||
			{ echo "real config: want CONFIG_$o=$v, got: $(grep "CONFIG_$o[= ]" "$RO/.config" || echo unset)"; fail=1; }
	fi
done
echo "real config: $(grep -c '=[ym]$' "$RO/.config") options on, in $RO/.config"
[ $fail = 0 ] && echo "real-config-check: ok (Debian's amd64 config + Rust + the project)"
exit $fail
