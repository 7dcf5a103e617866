# Sourced by the guest tests.
set -e
load() {
	grep -q "^$1 " /proc/modules || insmod "/modules/$1.ko"
}
