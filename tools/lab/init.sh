#!/bin/sh
# The lab guest's /init (rdinit=/init): mounts, modules, network, the host's 9p shares, then busybox init
# (inittab: the command agent, respawned). Kernel parameters read here:
#   lab.9p=TAG@PATH@ro|rw,...   9p shares to mount at PATH (the same absolute path as on the host)
#   lab.agent=PORT              the agent's TCP port in the guest
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
bb=/usr/bin/busybox
say() { echo "lab-init: $*" >/dev/console; }
$bb mount -t proc proc /proc
say "start at uptime $(cat /proc/uptime)"
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev 2>/dev/null
$bb mkdir -p /dev/pts /dev/shm /run /tmp
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t tmpfs tmpfs /run
$bb chmod 1777 /tmp
echo lab >/proc/sys/kernel/hostname
[ -w /proc/sys/kernel/yama/ptrace_scope ] && echo 0 >/proc/sys/kernel/yama/ptrace_scope
if [ -d /lab/modules ]; then  # initramfs mode (in disk mode the small initramfs loaded them)
  for m in $(cat /lab/modules.order); do
    $bb insmod "/lab/modules/$m.ko" || say "insmod $m failed"
  done
fi
$bb ip link set lo up
$bb ip addr add 10.0.2.15/24 dev eth0 && $bb ip link set eth0 up && $bb ip route add default via 10.0.2.2 \
  || say "no eth0: the network is down"
agent=7000
for kv in $(cat /proc/cmdline); do
  case "$kv" in
    lab.agent=*) agent=${kv#lab.agent=} ;;
    lab.9p=*)
      shares=${kv#lab.9p=}
      IFS=,
      for s in $shares; do
        IFS=@
        set -- $s
        IFS=,
        $bb mkdir -p "$2"
        $bb mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$3" "$1" "$2" || say "mount 9p $1 at $2 failed"
      done
      unset IFS
      ;;
  esac
done
cat >/etc/inittab <<EOF
::respawn:/bin/sh -c 'ulimit -c unlimited; cd /; exec /usr/bin/python3 /lab/agent.py $agent >/dev/console 2>&1'
::ctrlaltdel:/usr/bin/busybox poweroff -f
EOF
say "ready for the agent on port $agent at uptime $(cat /proc/uptime)"
exec $bb init
