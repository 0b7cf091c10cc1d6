; REP OUTSB: KVM emulates OUTS one element per exit (arch/x86/kvm/emulate.c
; em_out passes count 1; INS is batched instead, see rep_insb.asm), so five
; exits of count 1; RSI advanced and RCX zero on completion.
; SDM Vol. 2B, OUTS; api.rst KVM_EXIT_IO (count).
; mode: long
; expect-io: out port=0x3f8 size=1 count=1 data=68
; expect-io: out port=0x3f8 size=1 count=1 data=65
; expect-io: out port=0x3f8 size=1 count=1 data=6c
; expect-io: out port=0x3f8 size=1 count=1 data=6c
; expect-io: out port=0x3f8 size=1 count=1 data=6f
; expect: rcx=0 rdx=0x3f8
; expect-exit: hlt
bits 64
org 0x10000
  lea rsi, [rel text]
  mov ecx, 5
  mov dx, 0x3f8
  cld
  rep outsb
  lea rax, [rel text + 5]
  cmp rsi, rax
  jne .bad
  hlt
.bad:
  ud2
text: db "hello"
