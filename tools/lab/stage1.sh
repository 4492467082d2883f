#!/bin/busybox sh
# The lab's small initramfs (disk mode): load the modules, mount the root disk (virtio-blk, ext4; qemu
# keeps writes in a throw-away snapshot), and switch to it; the rootfs's /lab/init.sh does the rest.
bb=/bin/busybox
say() { echo "lab-stage1: $*" >/dev/console; }
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
say "start at uptime $($bb cat /proc/uptime)"
for m in $($bb cat /lab/modules.order); do
  $bb insmod "/lab/modules/$m.ko" || say "insmod $m failed"
done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do $bb sleep 0.1; n=$((n+1)); done
if ! $bb mount -t ext4 /dev/vda /newroot; then
  say "cannot mount the root disk /dev/vda: powering off"
  $bb poweroff -f
fi
$bb umount /proc /sys
$bb umount /dev
exec $bb switch_root /newroot /lab/init.sh
