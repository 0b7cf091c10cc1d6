; x87 transcendental, scaling, remainder, rounding and classification forms
; in 32-bit protected mode (SDM Vol. 1 8.3, Vol. 2 F2XM1..FXTRACT). The
; expected bytes are the host processor's for the same sequence.
; backends: soft  (the reference /dev/kvm emulates guests here, without x87)
; mode: prot32
; expect-exit: hlt
; expect-mem: 0x20000 = 32 ef fc 99 79 82 da 3f 09 00 00 00 cd 3b 7f 66
; expect-mem: 0x20010 = 9e a0 e6 3f 1f 7b 81 51 aa 57 eb 3f 08 38 de c0
; expect-mem: 0x20020 = 36 0e e2 bf 00 00 00 00 00 00 f8 3f fe ff ff ff
; expect-mem: 0x20030 = 80 66 66 66 66 66 c6 3f 80 66 66 66 66 66 c6 3f
; expect-mem: 0x20040 = 08 00 00 00 02 00 00 00 e6 e0 7c ab 13 50 e0 3f
; expect-mem: 0x20050 = 20 78 20 78 20 7a 00 85 f5 53 9b 95 6e 84 00 40
; expect-mem: 0x20060 = fe ff ff ff 20 70 7f 03 ff ff 20 70 ff ff ff cf
; expect-mem: 0x20070 = ff ff
bits 32
org 0x10000
RES equ 0x20000
  fninit
  fld qword [half]
  f2xm1                        ; 2^0.5 - 1
  fstp qword [RES + 0]
  fld qword [three]
  fld qword [eight]
  fyl2x                        ; 3 * log2(8) = 9
  fistp dword [RES + 8]
  fld1
  fld1
  fpatan                       ; pi/4
  fsin
  fstp qword [RES + 12]
  fld qword [half]
  fptan                        ; tan(0.5), then 1.0
  fstp st0
  fcos
  fstp qword [RES + 20]
  fld qword [val]
  fsincos                      ; ST1 = sin, ST0 = cos
  fsubp st1, st0               ; sin - cos
  fstp qword [RES + 28]
  fld qword [val]
  fxtract                      ; ST1 = exponent, ST0 = significand
  fstp qword [RES + 36]
  fistp dword [RES + 44]
  fld qword [val]
  fld qword [val2]
  fprem                        ; val2 rem val (truncating)
  fstp qword [RES + 48]
  fld qword [val2]
  fprem1                       ; IEEE remainder
  fstp qword [RES + 56]
  fstp st0
  fild word [n3]
  fld1
  fscale                       ; 1 * 2^3
  fistp dword [RES + 64]
  fstp st0
  fld qword [mhalf5]           ; -2.5
  frndint                      ; -2 (nearest even)
  fabs
  fistp dword [RES + 68]
  fld qword [three]
  fld qword [eighth]
  fyl2xp1                      ; 3 * log2(1.125)
  fstp qword [RES + 72]
  fldz
  fxam
  fnstsw [RES + 80]
  ftst
  fnstsw [RES + 82]
  fchs
  fxam
  fnstsw [RES + 84]
  fstp st0
  fldl2t
  fldl2e
  faddp st1, st0
  fldlg2
  fmulp st1, st0
  fldln2
  fdivp st1, st0
  fstp tword [RES + 86]
  fld qword [mhalf5]
  fisttp dword [RES + 96]      ; truncates: -2
  fld1
  fincstp
  fdecstp
  ffree st0
  fld1                         ; stack overflow? no: ST0 was freed
  fnstsw [RES + 100]
  fnstenv [RES + 102]
  hlt
align 8
half: dq 0.5
mhalf5: dq -2.5
three: dq 3.0
eight: dq 8.0
val: dq 0.375
val2: dq 10.3
eighth: dq 0.125
n3: dw 3
