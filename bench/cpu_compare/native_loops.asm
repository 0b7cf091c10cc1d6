; The workloads natively (SysV ABI), the anchor of bench/cpu_compare.
; uint64_t fn(uint64_t iters, uint8_t* begin, uint8_t* end)
default rel
%include "loops.inc"
section .text
global skvm_bench_alu, skvm_bench_mem, skvm_bench_mem_page, skvm_bench_call, skvm_bench_indirect
skvm_bench_alu:
  mov rcx, rdi
  LOOP_ALU
  ret
skvm_bench_mem:
  mov rcx, rdi
  mov rdi, rdx
  mov edx, 1
  LOOP_MEM 8
  ret
skvm_bench_mem_page:
  mov rcx, rdi
  mov rdi, rdx
  mov edx, 1
  LOOP_MEM 4096
  ret
skvm_bench_call:
  mov rcx, rdi
  LOOP_CALL
  ret
skvm_bench_indirect:
  mov rcx, rdi
  LOOP_INDIRECT
  ret
section .note.GNU-stack noalloc noexec nowrite progbits
