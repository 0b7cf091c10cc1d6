; x87 arithmetic, integer conversions under rounding control, FCOMI/FCMOV/
; FUCOMIP and FBSTP in 64-bit mode (SDM Vol. 1 ch. 8). Expected values are
; the host processor's for the same instruction sequence.
; backends: soft  (the reference /dev/kvm emulates guests here, without x87)
; mode: long
; expect: rax=0x400706404ef71f7b rbx=0x8e rcx=0x8f rdx=0x101 rsi=0x3456789012345678 rdi=0x20
; expect-exit: hlt
bits 64
org 0x10000
  xor edx, edx
  fninit
  fldpi
  fld1
  faddp st1, st0            ; pi + 1
  fadd st0, st0             ; 2pi + 2
  fsqrt
  fstp qword [rel r_sqrt]
  mov rax, [rel r_sqrt]
  fild dword [rel n1000]
  fidiv word [rel n7]       ; 142.857...
  fldcw [rel cw_down]
  fist dword [rel r_floor]  ; 142
  fldcw [rel cw_up]
  fistp dword [rel r_ceil]  ; 143
  mov ebx, [rel r_floor]
  mov ecx, [rel r_ceil]
  fldcw [rel cw_near]
  fld qword [rel two]
  fld1                      ; 1, 2
  fcomi st0, st1            ; 1 < 2: CF
  setb dl
  fcmovb st0, st1           ; ST0 = 2
  fucomip st0, st1          ; equal: ZF
  sete dh
  fstp st0
  fild qword [rel big]
  fbstp [rel bcd]
  mov rsi, [rel bcd]
  fnstsw [rel sw]
  movzx edi, word [rel sw]
  hlt
align 8
two: dq 2.0
big: dq 123456789012345678
r_sqrt: dq 0
bcd: times 10 db 0
n1000: dd 1000
r_floor: dd 0
r_ceil: dd 0
n7: dw 7
cw_down: dw 0x077f
cw_up: dw 0x0b7f
cw_near: dw 0x037f
sw: dw 0
