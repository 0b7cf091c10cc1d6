#!/usr/bin/env bash
# Runs the benchmarks side by side with their anchors and prints a table.
# Usage: bench/run.sh BUILD_DIR
# Ratios, not absolute times, are what to compare (docs/performance.md).
set -u
build=${1:?usage: bench/run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
bench=$build/bench/exit_latency/exit_latency
soft_iters=${SOFT_ITERATIONS:-1000000}
host_iters=${HOST_ITERATIONS:-20000}

echo "# softkvm benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo
echo "## Port-I/O exit round trip (KVM_RUN -> KVM_EXIT_IO -> KVM_RUN)"
results=()
measure() {  # measure LABEL COMMAND...: prints the microseconds per exit or n/a
  local label=$1
  shift
  local out
  if out=$("$@" 2>&1) && [[ "$out" =~ us_per_exit=([0-9.]+) ]]; then
    results+=("$label|${BASH_REMATCH[1]}")
  else
    results+=("$label|n/a ($(echo "$out" | tail -1))")
  fi
}
measure "softkvm, C ABI ($soft_iters exits)" "$bench" --backend soft --iterations "$soft_iters"
measure "softkvm, preload shim ($soft_iters exits)" "$build/softkvm" exec -- "$bench" --backend dev --iterations "$soft_iters" --label preload
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  measure "host /dev/kvm ($host_iters exits)" "$bench" --backend dev --iterations "$host_iters" --label host
else
  results+=("host /dev/kvm|n/a (no usable /dev/kvm)")
fi

host_us=""
for r in "${results[@]}"; do
  [[ "$r" == host* ]] && host_us=${r#*|}
done
printf '| %-40s | %12s | %10s |\n' "backend" "µs per exit" "vs host"
printf '|%s|%s|%s|\n' "------------------------------------------" "--------------" "------------"
for r in "${results[@]}"; do
  label=${r%%|*} us=${r#*|} ratio="-"
  if [[ "$us" =~ ^[0-9.]+$ && "$host_us" =~ ^[0-9.]+$ ]]; then
    ratio=$(awk -v h="$host_us" -v s="$us" 'BEGIN { printf "%.1fx faster", h / s }')
    [[ "$label" == host* ]] && ratio="1.0x"
  fi
  printf '| %-40s | %12s | %10s |\n' "$label" "$us" "$ratio"
done

# Issue 3's CPU workloads on softkvm (C ABI), QEMU TCG and natively, same
# guest instructions (bench/cpu_compare), REPS repetitions each.
echo
echo "## Guest MIPS: softkvm vs QEMU TCG vs native (bench/cpu_compare)"
cmp_bin=$build/bench/cpu_compare/cpu_compare
cmp_img=$build/bench/cpu_compare/cpu_compare_guest.bin
reps=${REPS:-3}
if [ -x "$cmp_bin" ] && [ -f "$cmp_img" ]; then
  printf '| %-8s | %-22s | %-22s | %-22s | %9s | %9s |\n' workload "softkvm MIPS" "QEMU TCG MIPS" "native MIPS" "soft/QEMU" "soft/nat."
  printf '|%s|%s|%s|%s|%s|%s|\n' ---------- ------------------------ ------------------------ ------------------------ ----------- -----------
  for w in a b b2 c c2; do
    cols=()
    for r in soft qemu native; do
      vals=()
      for ((i = 0; i < reps; i++)); do
        out=$("$cmp_bin" --image "$cmp_img" --workload "$w" --runner "$r" 2>&1)
        [[ "$out" =~ mips=([0-9.]+) ]] && vals+=("${BASH_REMATCH[1]}") || vals+=("n/a")
      done
      cols+=("$(IFS=/; echo "${vals[*]}")")
    done
    med() { tr '/' '\n' <<<"$1" | grep -v n/a | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "")}'; }
    s=$(med "${cols[0]}") q=$(med "${cols[1]}") n=$(med "${cols[2]}")
    rq=$(awk -v s="$s" -v q="$q" 'BEGIN { if (s && q) printf "%.2f", s / q; else print "-" }')
    rn=$(awk -v s="$s" -v n="$n" 'BEGIN { if (s && n) printf "%.3f", s / n; else print "-" }')
    printf '| %-8s | %-22s | %-22s | %-22s | %9s | %9s |\n' "$w" "${cols[0]}" "${cols[1]}" "${cols[2]}" "$rq" "$rn"
  done
  echo "(each cell: $reps runs; ratios of the medians)"
else
  echo "n/a ($cmp_bin not built)"
fi

# The CPU engine's own micro benchmark (bench/cpu_loop, no KVM ABI).
echo
echo "## CPU engine: guest MIPS and engine-only exit (bench/cpu_loop)"
if [ -x "$build/bench_cpu_loop" ]; then
  echo '```'
  "$build/bench_cpu_loop" 2>&1 || echo "bench_cpu_loop failed with status $?"
  echo '```'
else
  echo "n/a ($build/bench_cpu_loop not built)"
fi

echo
echo "## Linux boot to the marker: softkvm vs QEMU TCG (bench/boot)"
"$(dirname "$0")/boot/run.sh" "$build" "${BOOT_REPS:-3}" || echo "bench/boot failed with status $?"

# Issue 4: interrupt delivery and idle cost, softkvm (C ABI) vs the host
# /dev/kvm in the same run (the host emulates guest code: few iterations).
echo
echo "## Interrupts: IPI round trip and irqfd-to-handler latency (bench/irq_latency)"
irq_bin=$build/bench/irq_latency/irq_latency
if [ -x "$irq_bin" ]; then
  host_ok=0
  [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && host_ok=1
  echo '```'
  "$irq_bin" --test ipi --backend soft --iterations "${IPI_ITERATIONS:-5000}" 2>&1 | tail -1
  ((host_ok)) && "$irq_bin" --test ipi --backend dev --label host --iterations "${HOST_IPI_ITERATIONS:-200}" 2>&1 | tail -1
  "$irq_bin" --test irqfd --backend soft --iterations "${IRQFD_ITERATIONS:-500}" 2>&1 | tail -1
  ((host_ok)) && "$irq_bin" --test irqfd --backend dev --label host --iterations "${HOST_IRQFD_ITERATIONS:-50}" 2>&1 | tail -1
  echo '```'
else
  echo "n/a ($irq_bin not built)"
fi

echo
echo "## Idle guest, 250 Hz tick: host CPU as % of one core (bench/idle; target < 2%)"
idle_bin=$build/bench/idle/idle
if [ -x "$idle_bin" ]; then
  echo '```'
  for tick in lapic pit; do
    "$idle_bin" --backend soft --tick "$tick" --seconds "${IDLE_SECONDS:-5}" 2>&1 | tail -1
    if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
      "$idle_bin" --backend dev --label host --tick "$tick" --seconds "${IDLE_SECONDS:-5}" 2>&1 | tail -1
    fi
  done
  echo '```'
else
  echo "n/a ($idle_bin not built)"
fi
