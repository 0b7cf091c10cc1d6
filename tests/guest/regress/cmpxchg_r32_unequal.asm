; CMPXCHG r/m32, r32 with a register destination in 64-bit mode: when
; unequal, only EAX is written (zero-extended) and the destination keeps its
; upper half; when equal the destination gets the source, zero-extended.
; SDM Vol. 2A, CMPXCHG; the host CPU does this (tests/fuzz, native oracle).
; backends: soft  (KVM's instruction emulator writes an unequal destination
; back as a 32-bit register, zeroing its upper half; the CPU does not)
; Found by the differential fuzzer; fixed in exec/bits.h.
; mode: long
; expect: rax=0x3 rbp=0x100000005 rdx=0x7 rsi=0x7 rdi=0x3
; expect-exit: hlt
bits 64
org 0x10000
  mov rbp, 0x100000005
  xor eax, eax
  mov edx, 7
  cmpxchg ebp, edx             ; 0 != 5: eax = 5, rbp unchanged
  mov rsi, 0x200000005
  cmpxchg esi, edx             ; 5 == 5: rsi = 7 (zero-extended)
  mov rdi, 0x300000003
  mov eax, 3
  cmpxchg edi, eax             ; destination = source register: rdi = 3
  hlt
