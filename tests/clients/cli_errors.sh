#!/usr/bin/env bash
# `softkvm` on bad input: each case must exit with the expected status and
# name the culprit (file, flag or value) on stderr. Also --help, --version
# and the exit status of `softkvm exec`.
# Usage: cli_errors.sh BUILD_DIR
set -u
build=$1
sk="$build/softkvm"
demo="$build/guests/demo.bin"
mb="$build/guests/multiboot_test.bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect STATUS SUBSTRING -- COMMAND...: stderr+stdout must contain SUBSTRING.
expect() {
  local want=$1 needle=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -ne "$want" ]; then
    echo "FAIL: '$*' exited $rc, expected $want; output: $out"; failures=$((failures + 1))
  elif [[ "$out" != *"$needle"* ]]; then
    echo "FAIL: '$*' output lacks '$needle': $out"; failures=$((failures + 1))
  else
    echo "ok: $* -> $rc, '$needle'"
  fi
}

: >"$tmp/empty.bin"
head -c 2000000 /dev/zero >"$tmp/big.bin"
mkdir "$tmp/dir.bin"

expect 2 "--flat $tmp/missing.bin: cannot open: No such file or directory" -- "$sk" run --flat "$tmp/missing.bin"
expect 2 "--flat $tmp/empty.bin: file is empty" -- "$sk" run --flat "$tmp/empty.bin"
expect 2 "--flat $tmp/dir.bin: not a regular file" -- "$sk" run --flat "$tmp/dir.bin"
expect 2 "--flat $tmp/big.bin: 2000000 bytes do not fit in guest memory" -- "$sk" run --flat "$tmp/big.bin" --mem 1
expect 2 "--flat $tmp/big.bin: 2000000 bytes do not fit in guest memory" -- "$sk" run --flat "$tmp/big.bin" --mode real
expect 2 "unknown --backend 'qemu' (expected soft or host)" -- "$sk" run --flat "$demo" --backend qemu
expect 2 "unknown --mode 'prot' (expected long or real)" -- "$sk" run --flat "$demo" --mode prot
expect 2 "--mem 0 out of range" -- "$sk" run --flat "$demo" --mem 0
expect 2 "--mem 99999 out of range" -- "$sk" run --flat "$demo" --mem 99999
expect 2 "--mem" -- "$sk" run --flat "$demo" --mem lots
expect 2 "give exactly one of -k KERNEL or --flat FILE" -- "$sk" run
expect 2 "give exactly one of -k KERNEL or --flat FILE" -- "$sk" run --flat "$demo" -k "$demo"
expect 2 "-k $tmp/missing.bin: cannot open: No such file or directory" -- "$sk" run -k "$tmp/missing.bin"
expect 2 "-k $demo: not a kernel" -- "$sk" run -k "$demo"
expect 2 "-i $tmp/missing.img: cannot open" -- "$sk" run -k "$mb" -i "$tmp/missing.img"
expect 2 "-i $tmp/big.bin: 2000000 bytes do not fit in guest RAM" -- "$sk" run -k "$mb" -i "$tmp/big.bin" -m 2
expect 2 "unknown --backend 'qemu' (expected soft or host)" -- "$sk" run -k "$mb" --backend qemu
expect 2 "-c 0 out of range" -- "$sk" run -k "$mb" -c 0
expect 2 "-i, -p, --disk, -c, --console and --guest-profile need -k KERNEL" -- "$sk" run --flat "$demo" -p quiet
expect 2 "--guest-profile need -k KERNEL" -- "$sk" run --flat "$demo" --console virtio
expect 2 "unknown --console 'vga' (expected serial or virtio)" -- "$sk" run -k "$mb" --console vga
expect 2 "--guest-profile $tmp/empty.bin: file is empty" -- "$sk" run -k "$mb" --guest-profile "$tmp/empty.bin"
expect 2 "--disk $tmp/empty.bin: not a regular file of at least 512 bytes" -- "$sk" run -k "$mb" --disk "$tmp/empty.bin"
expect 2 "--disk $tmp/missing.img: cannot open: No such file or directory" -- "$sk" run -k "$mb" --disk "$tmp/missing.img"
expect 2 "--reset-status 300 out of range" -- "$sk" run -k "$mb" --reset-status 300
expect 2 "unknown --entry '32' (expected 64 or 16)" -- "$sk" run -k "$mb" --entry 32
expect 2 "--backend host: cannot open /dev/kvm" -- unshare -m sh -c "mount -t tmpfs none /dev && exec \"$sk\" run -k \"$mb\" --backend host"
expect 2 "--bogus" -- "$sk" run --flat "$demo" --bogus
expect 2 "A subcommand is required" -- "$sk"
expect 2 "exec: missing command" -- "$sk" exec --
expect 127 "exec: no-such-command-xyz: No such file or directory" -- "$sk" exec -- no-such-command-xyz
expect 7 "" -- "$sk" exec -- sh -c 'exit 7'
expect 0 "libsoftkvm-preload.so:/nonexistent.so" -- env LD_PRELOAD=/nonexistent.so "$sk" exec -- sh -c 'echo "LD_PRELOAD=$LD_PRELOAD"'
expect 0 "softkvm: guest halted after" -- "$sk" run --flat "$build/guests/hello16.bin" --mode real --verbose
expect 0 "Examples:" -- "$sk" --help
expect 0 "--flat FILE" -- "$sk" run --help
expect 0 "softkvm exec -- CMD" -- "$sk" exec --help
expect 0 "softkvm 0.1.0" -- "$sk" --version

# --backend host without a usable /dev/kvm: as an unprivileged user when the
# device is root-only (the usual case for a root test run).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ -c /dev/kvm ] &&
   ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r /dev/kvm 2>/dev/null; then
  chmod 755 "$tmp"
  cp "$demo" "$tmp/demo.bin" && chmod 644 "$tmp/demo.bin"
  if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$sk" 2>/dev/null; then
    expect 2 "--backend host: cannot open /dev/kvm: Permission denied" -- \
      setpriv --reuid=nobody --regid=nogroup --clear-groups "$sk" run --flat "$tmp/demo.bin" --backend host
  else
    echo "SKIP unusable-/dev/kvm case: user nobody cannot execute $sk"
  fi
else
  echo "SKIP unusable-/dev/kvm case: needs root, setpriv and a /dev/kvm that user nobody cannot open"
fi

if [ $failures -ne 0 ]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all CLI cases passed"
