; Two x87 contexts switched with FNSAVE/FRSTOR as an OS does (SDM Vol. 2A
; FSAVE, FRSTOR), plus a 16-bit FNSTENV/FLDENV round trip: each context
; keeps its stack and its own rounding control across the switch.
; Expected bytes are the host processor's for the same sequence.
; backends: soft  (the reference /dev/kvm emulates guests here, without x87)
; mode: prot32
; expect-exit: hlt
; expect-mem: 0x20000 = eb 4d 6f 7a d3 9b de 3f 7f 07 03 00 00 00 55 55
; expect-mem: 0x20010 = 55 55 55 55 55 d5 00 40 20 00
; expect-mem: 0x20100 = 7f 07 ff ff 00 30 ff ff ff 0f ff ff
; expect-mem: 0x20200 = 7f 03 ff ff 20 38 ff ff ff 3f ff ff
; expect-mem: 0x20300 = 7f 03 20 38 ff 3f
bits 32
org 0x10000
RES equ 0x20000
SAVE_A equ 0x20100
SAVE_B equ 0x20200
ENV_B equ 0x20300
  fninit
  fldcw [cw_a]                 ; context A rounds down
  fld qword [a1]
  fld qword [a2]
  fnsave [SAVE_A]              ; A saved, FPU reinitialized
  fld qword [b1]
  fild dword [b2]
  fdivp st1, st0               ; B: 10 / 3, rounded to nearest
  o16 fnstenv [ENV_B]
  o16 fldenv [ENV_B]
  fnsave [SAVE_B]
  frstor [SAVE_A]              ; back to A
  fdivp st1, st0               ; 1.1 / 2.3, rounded down
  fstp qword [RES]
  fnstcw [RES + 8]
  frstor [SAVE_B]              ; back to B
  fld st0
  fistp dword [RES + 10]
  fstp tword [RES + 14]
  fnstsw [RES + 24]
  hlt
align 8
a1: dq 1.1
a2: dq 2.3
b1: dq 10.0
b2: dd 3
cw_a: dw 0x077f
